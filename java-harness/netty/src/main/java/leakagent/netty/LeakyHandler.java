package leakagent.netty;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpRequest;
import java.util.ArrayList;
import java.util.List;

/**
 * Copies every request body into a direct buffer of its own for an "audit" it then
 * forgets: in leak mode the copy is kept and never released (the classic ByteBuf leak: refCnt
 * never reaches 0, so a pooled allocator never gets the memory back); fixed releases it.
 */
final class LeakyHandler extends ChannelInboundHandlerAdapter {
    /** The copies leak mode keeps: a list that only grows, as forgotten audit records do. */
    static final List<ByteBuf> AUDIT = new ArrayList<>();
    private final boolean release;

    LeakyHandler(boolean release) {
        this.release = release;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof FullHttpRequest) {
            ByteBuf body = ((FullHttpRequest) msg).content();
            ByteBuf copy = ctx.alloc().directBuffer(body.readableBytes());
            copy.writeBytes(body, body.readerIndex(), body.readableBytes());
            if (release) {
                copy.release();
            } else {
                synchronized (AUDIT) {
                    AUDIT.add(copy);
                }
                NettyServer.LEAKED.incrementAndGet();
                NettyServer.LEAKED_BYTES.addAndGet(copy.capacity());
            }
        }
        ctx.fireChannelRead(msg);
    }
}
