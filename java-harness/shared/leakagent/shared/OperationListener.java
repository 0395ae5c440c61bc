package leakagent.shared;

/** Callback interface defined by the shared loader. */
public interface OperationListener {
    void onOperation(OperationEnum op);
}
