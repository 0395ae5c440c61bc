package leakagent.netty;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocatorMetric;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.internal.PlatformDependent;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A Netty HTTP server as servers use it (ServerBootstrap, NIO or epoll transport, the default
 * allocator: PooledByteBufAllocator unless -Dio.netty.allocator.type says otherwise) and an
 * in-process load driver (java.net.http, several connections) that posts request bodies of 4-36
 * KiB and asks for responses from 2 KiB to 1 MiB, now and then 5 MiB (above the 4 MiB chunk:
 * Netty's huge, unpooled allocations).
 *
 *   NettyServer MODE REQUESTS [CONNECTIONS] [nio|epoll] [--await-stdin]
 *   MODE: healthy | leak (LeakyHandler copies some request bodies into direct buffers it never
 *         releases) | fixed (the same handler releasing them) | ramp (healthy, its connections
 *         starting one by one over the first half of the requests: traffic that grows, then
 *         levels off, as a server's after a deploy; each response waits RAMP_DELAY_MS, a slow
 *         backend, so that the buffers in flight, and the pool's chunks, grow with the
 *         connections)
 *
 * Serves REQUESTS requests (a count, not a time, so that a loaded machine leaks as much as an
 * idle one). Prints "HARNESS netty t=N ..." each second (Netty's own counters: the pooled
 * allocator's used direct memory and PlatformDependent's counter on the no-cleaner path),
 * "HARNESS netty third=1" and "third=2" when a third and two thirds are served, and truths at
 * the end.
 * With --await-stdin (the tests' launcher) it prints "HARNESS ready" once serving and, after the
 * load, waits for EOF or a line "exit" on stdin before it exits. It also pauses at each third:
 * the load driver sends no request past it, and the rest waits for a line "go" on stdin (after
 * third=N is printed, so that a report taken then sees no request in flight and the test paces
 * the reports); "exit" or EOF before that lifts every pause (a run that takes its reports by
 * time, not by third).
 */
public final class NettyServer {
    static final AtomicLong REQUESTS = new AtomicLong();
    static final AtomicLong LEAKED = new AtomicLong();
    static final AtomicLong LEAKED_BYTES = new AtomicLong();
    static final long RAMP_DELAY_MS = 50;

    /** The pauses at the first and second thirds: open once stdin says "go" (or "exit"). */
    static final CountDownLatch[] THIRDS = {new CountDownLatch(1), new CountDownLatch(1)};
    /** Stdin said "exit" or ended. */
    static final CountDownLatch EXIT = new CountDownLatch(1);

    public static void main(String[] argv) throws Exception {
        boolean awaitStdin = List.of(argv).contains("--await-stdin");
        if (awaitStdin) {
            readStdin();
        } else {
            EXIT.countDown();
            openThirds();
        }
        String[] args = Arrays.stream(argv).filter(a -> !a.equals("--await-stdin")).toArray(String[]::new);
        String mode = args[0];
        int requests = Integer.parseInt(args[1]);
        int connections = args.length > 2 ? Integer.parseInt(args[2]) : 4;
        boolean epoll = args.length > 3 && args[3].equals("epoll");
        if (!List.of("healthy", "leak", "fixed", "ramp").contains(mode)) {
            throw new IllegalArgumentException("mode: healthy, leak, fixed or ramp");
        }
        if (epoll && !Epoll.isAvailable()) {
            throw new IllegalStateException("epoll unavailable", Epoll.unavailabilityCause());
        }
        EventLoopGroup boss = epoll ? new EpollEventLoopGroup(1) : new NioEventLoopGroup(1);
        EventLoopGroup workers = epoll ? new EpollEventLoopGroup(2) : new NioEventLoopGroup(2);
        try {
            ServerBootstrap b = new ServerBootstrap()
                .group(boss, workers)
                .channel(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20));
                        if (mode.equals("leak") || mode.equals("fixed")) {
                            ch.pipeline().addLast(new LeakyHandler(mode.equals("fixed")));
                        }
                        ch.pipeline().addLast(new ResponseHandler(mode.equals("ramp") ? RAMP_DELAY_MS : 0));
                    }
                });
            Channel server = b.bind("127.0.0.1", 0).sync().channel();
            int port = ((InetSocketAddress) server.localAddress()).getPort();
            ByteBufAllocator alloc = server.config().getAllocator();
            System.out.println("HARNESS netty mode=" + mode + " port=" + port + " allocator=" + alloc.getClass().getSimpleName()
                + " transport=" + (epoll ? "epoll" : "nio") + " no_cleaner=" + PlatformDependent.useDirectBufferNoCleaner()
                + " netty=" + io.netty.util.Version.identify().getOrDefault("netty-buffer", null));
            System.out.println("HARNESS ready");
            System.out.flush();
            drive(port, connections, requests, alloc, mode.equals("ramp"));
            server.close().sync();
        } finally {
            boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        System.out.println("HARNESS netty done " + counters(ByteBufAllocator.DEFAULT));
        System.out.println("HARNESS truth requests=" + REQUESTS.get());
        System.out.println("HARNESS truth leaked_buffers=" + LEAKED.get());
        System.out.println("HARNESS truth leaked_bytes=" + LEAKED_BYTES.get());
        System.out.println("HARNESS truth pooled_used_direct=" + pooledUsedDirect(ByteBufAllocator.DEFAULT));
        System.out.println("HARNESS truth allocator_used_direct=" + usedDirect(ByteBufAllocator.DEFAULT));
        System.out.println("HARNESS truth allocator=" + ByteBufAllocator.DEFAULT.getClass().getSimpleName());
        System.out.println("HARNESS truth netty_used_direct=" + PlatformDependent.usedDirectMemory());
        System.out.println("HARNESS truth no_cleaner=" + (PlatformDependent.useDirectBufferNoCleaner() ? 1 : 0));
        System.out.flush();
        EXIT.await();
    }

    /** Stdin, on a thread of its own: each "go" opens the next third; "exit" or EOF opens all. */
    static void readStdin() {
        Thread t = new Thread(() -> {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            int opened = 0;
            try {
                for (String line; (line = in.readLine()) != null && !line.trim().equals("exit"); ) {
                    if (line.trim().equals("go") && opened < THIRDS.length) {
                        THIRDS[opened++].countDown();
                    }
                }
            } catch (java.io.IOException e) {
                // As EOF: nothing more will come.
            }
            openThirds();
            EXIT.countDown();
        }, "stdin");
        t.setDaemon(true);
        t.start();
    }

    static void openThirds() {
        for (CountDownLatch l : THIRDS) {
            l.countDown();
        }
    }

    static long pooledUsedDirect(ByteBufAllocator alloc) {
        return alloc instanceof PooledByteBufAllocator ? ((PooledByteBufAllocator) alloc).metric().usedDirectMemory() : -1;
    }

    /** The allocator's own count of its direct memory (Netty 4.2's adaptive allocator too). */
    static long usedDirect(ByteBufAllocator alloc) {
        return alloc instanceof ByteBufAllocatorMetricProvider ? ((ByteBufAllocatorMetricProvider) alloc).metric().usedDirectMemory() : -1;
    }

    static String counters(ByteBufAllocator alloc) {
        String s = "requests=" + REQUESTS.get() + " leaked=" + LEAKED.get() + " pooled_used_direct=" + pooledUsedDirect(alloc)
            + " allocator_used_direct=" + usedDirect(alloc)
            + " netty_used_direct=" + PlatformDependent.usedDirectMemory();
        if (alloc instanceof PooledByteBufAllocator) {
            PooledByteBufAllocatorMetric m = ((PooledByteBufAllocator) alloc).metric();
            s += " arenas=" + m.numDirectArenas() + " chunk=" + m.chunkSize();
        }
        return s;
    }

    /** CONNECTIONS threads, each one HTTP/1.1 connection's worth of sequential requests. */
    static void drive(int port, int connections, int requests, ByteBufAllocator alloc, boolean ramp) throws Exception {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        AtomicLong sent = new AtomicLong();
        // Responses received: a third is over once its last response arrived, not when sent.
        AtomicLong received = new AtomicLong();
        CountDownLatch done = new CountDownLatch(connections);
        for (int c = 0; c < connections; c++) {
            final int id = c;
            Thread t = new Thread(() -> {
                Random rnd = new Random(id);
                try {
                    // Ramp: connection N joins once N/CONNECTIONS of the first half is served.
                    while (ramp && REQUESTS.get() < (long) id * requests / (2L * connections)) {
                        Thread.sleep(5);
                    }
                    for (long k; (k = sent.incrementAndGet()) <= requests; ) {
                        // Past a third: wait for its pause to end.
                        for (int i = 0; i < THIRDS.length; i++) {
                            if (k > (i + 1) * (long) requests / 3) {
                                THIRDS[i].await();
                            }
                        }
                        int n = REQUESTS.get() % 97 == 0 ? 0 : 1;
                        int size = n == 0 ? 5 << 20 : (2 << 10) << rnd.nextInt(10); // 2 KiB .. 1 MiB
                        byte[] body = new byte[(4 << 10) + rnd.nextInt(32 << 10)];
                        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/?size=" + size))
                            .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
                        HttpResponse<byte[]> resp = client.send(req, HttpResponse.BodyHandlers.ofByteArray());
                        if (resp.statusCode() != 200 || resp.body().length != size) {
                            throw new IllegalStateException("status " + resp.statusCode() + ", " + resp.body().length + " bytes");
                        }
                        received.incrementAndGet();
                    }
                } catch (Exception e) {
                    e.printStackTrace();
                    System.exit(3);
                } finally {
                    done.countDown();
                }
            }, "load-" + c);
            t.start();
        }
        int third = 0;
        for (int tick = 1; !done.await(100, TimeUnit.MILLISECONDS); tick++) {
            if (third < 2 && received.get() >= (third + 1) * (long) requests / 3) {
                System.out.println("HARNESS netty third=" + ++third + " " + counters(alloc));
            }
            if (tick % 10 == 0) {
                System.out.println("HARNESS netty t=" + tick / 10 + " " + counters(alloc));
            }
            System.out.flush();
        }
    }

    /** Answers every request with SIZE bytes (?size=), written from the channel's allocator. */
    static final class ResponseHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
        final long delayMs;

        ResponseHandler(long delayMs) {
            this.delayMs = delayMs;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            int size = Integer.parseInt(new QueryStringDecoder(req.uri()).parameters().get("size").get(0));
            ByteBuf content = ctx.alloc().directBuffer(size);
            for (int i = 0; i < size; i += 8) {
                content.writeLong(i);
            }
            content.writerIndex(size);
            FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, content);
            HttpUtil.setContentLength(resp, size);
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            if (!keepAlive) {
                resp.headers().set(HttpHeaderNames.CONNECTION, "close");
            }
            if (delayMs > 0) {
                ctx.executor().schedule(() -> respond(ctx, resp, keepAlive), delayMs, TimeUnit.MILLISECONDS);
            } else {
                respond(ctx, resp, keepAlive);
            }
        }

        static void respond(ChannelHandlerContext ctx, FullHttpResponse resp, boolean keepAlive) {
            REQUESTS.incrementAndGet();
            if (keepAlive) {
                ctx.writeAndFlush(resp);
            } else {
                ctx.writeAndFlush(resp).addListener(ChannelFutureListener.CLOSE);
            }
        }
    }
}
