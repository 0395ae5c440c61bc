package leakagent.harness.scenarios;

import java.net.URLClassLoader;
import java.util.Collections;

import leakagent.harness.Container;
import leakagent.harness.Main;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * enum-parent (seed 002 item h): leakagent.shared.OperationEnum is defined by the container's
 * shared loader (build/shared/shared.jar); each generation of apps/enumparent registers a
 * ChangeListener on OperationEnum.CHANGE. Truth: all N generations leak through the enum
 * constant. Fixed: stop() removes the listener.
 */
public final class EnumParent implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        URLClassLoader shared = Container.sharedLoader(Main.buildDir().resolve("shared/shared.jar").toString());
        Container c = new Container("enumparent", "leakagent.app.enumparent.EnumParentApp", shared);
        c.redeploy(o.generations, o.fixed);
        Out.truth("shared_enum", "leakagent.shared.OperationEnum");
        Out.truth("listeners_left", o.fixed ? 0 : o.generations);
        c.finish(o, o.fixed ? Collections.<String>emptyList() : c.all(),
                "enum in parent loader",
                "OperationEnum.CHANGE->OperationEnum.listeners->ArrayList.elementData->ChangeListener");
    }
}
