package leakagent.harness.scenarios;

import java.util.Collections;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

import leakagent.harness.Container;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * threadlocal: the container owns a one-thread pool ("container-pool-1", daemon, created and
 * started before any deployment so its context loader is the harness loader). Every generation
 * runs a task on it that sets AppTask.CURRENT (a static ThreadLocal of an app class) to an
 * AppValue and does not remove it. Truth: all N generations leak through the pooled thread's
 * ThreadLocalMap (the entries' keys stay strongly reachable from their values, so they are never
 * stale and never expunged). Fixed: the task removes its value.
 */
public final class ThreadLocalLeak implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        ThreadPoolExecutor pool = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "container-pool-1");
            t.setDaemon(true);
            return t;
        });
        pool.prestartAllCoreThreads();
        Container c = new Container("threadlocal", "leakagent.app.threadlocal.ThreadLocalApp", Container.harnessLoader());
        c.services.put("pool", pool);
        c.redeploy(o.generations, o.fixed);
        Out.truth("pool_thread", "container-pool-1");
        Out.truth("threadlocal_entries_left", o.fixed ? 0 : o.generations);
        Out.truth("threadlocal_value_class", "leakagent.app.threadlocal.AppValue");
        c.finish(o, o.fixed ? Collections.<String>emptyList() : c.all(),
                "java.lang.ThreadLocal",
                "Thread(container-pool-1).threadLocals->ThreadLocalMap.table->Entry.value->AppValue");
    }
}
