package leakagent.harness.scenarios;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import leakagent.harness.Container;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * thread: every generation of apps/thread starts a daemon thread "app-worker-gen-N" that never
 * stops; its Runnable (Worker) and context class loader belong to the application. Truth: all N
 * generations leak (a live thread is a GC root). Fixed: stop() interrupts and joins the thread.
 */
public final class ThreadLeak implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        Container c = new Container("thread", "leakagent.app.thread.ThreadApp", Container.harnessLoader());
        c.redeploy(o.generations, o.fixed);
        List<String> names = new ArrayList<>();
        for (int i = 1; i <= o.generations; i++) names.add("app-worker-gen-" + i);
        Out.truth("leaked_threads", o.fixed ? 0 : o.generations);
        Out.truth("leaked_thread_names", o.fixed ? "none" : String.join(",", names));
        c.finish(o, o.fixed ? Collections.<String>emptyList() : c.all(),
                "java.lang.Thread",
                "Thread(app-worker-gen-N).contextClassLoader / Thread.target(Worker)");
    }
}
