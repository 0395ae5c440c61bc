package leakagent.harness.scenarios;

import java.util.ArrayList;
import java.util.List;
import java.util.zip.Inflater;

import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * zlib-waves: the number of live Inflaters goes 120, 95, 130, 0, 120, each level held for
 * 1.5 s, for limits with hysteresis: with zlib_limit=100 (re-armed below 90) the first wave
 * crosses, 95 and 130 do not re-cross, falling to 0 re-arms and the last wave crosses again.
 * Fixed: the waves peak at 60 live streams.
 */
public final class ZlibWaves implements Scenario {
    static final List<Inflater> LIVE = new ArrayList<>();

    @Override
    public void run(Options o) throws Exception {
        int[] levels = o.fixed ? new int[] {60, 40, 60, 0, 60} : new int[] {120, 95, 130, 0, 120};
        for (int level : levels) {
            while (LIVE.size() < level) LIVE.add(new Inflater());
            while (LIVE.size() > level) LIVE.remove(LIVE.size() - 1).end();
            Thread.sleep(1500);
        }
        for (Inflater i : LIVE) i.end();
        LIVE.clear();
        Out.truth("crossings_of_100", o.fixed ? 0 : 2);
    }
}
