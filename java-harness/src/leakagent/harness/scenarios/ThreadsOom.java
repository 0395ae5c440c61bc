package leakagent.harness.scenarios;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * threads-oom: threads that wait on a latch are started until Thread.start throws
 * "unable to create native thread" (run in a pids-limited cgroup); then the latch opens and
 * every thread ends. Fixed: 16 threads only.
 */
public final class ThreadsOom implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        List<Thread> started = new ArrayList<>();
        boolean thrown = false;
        try {
            while (!o.fixed || started.size() < 16) {
                Thread t = new Thread(() -> {
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }, "parked-" + started.size());
                t.setDaemon(true);
                t.start();
                started.add(t);
            }
        } catch (OutOfMemoryError e) {
            thrown = true;
            Out.truth("oom_message", e.getMessage());
        }
        Out.truth("threads_started", started.size());
        release.countDown();
        for (Thread t : started) t.join();
        Out.truth("oom_thrown", thrown);
    }
}
