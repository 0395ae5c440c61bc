package leakagent.harness;

/** One scenario: does its work, prints its truths; Main prints "ready"/"done" around it. */
public interface Scenario {
    void run(Options o) throws Exception;
}
