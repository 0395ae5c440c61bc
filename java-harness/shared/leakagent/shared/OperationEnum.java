package leakagent.shared;

import java.util.ArrayList;
import java.util.List;

/**
 * Seed 002 item h: an enum that lives in a loader above the applications (the container's
 * "shared" loader) and is used by several applications. Each constant keeps a listener list;
 * an application that registers a listener and never unregisters it is pinned by the enum
 * constant, a static field of a class that outlives every deployment.
 */
public enum OperationEnum {
    QUOTE(1), ISSUE(2), RENEW(4), CANCEL(12), ENDORSE(16), CHANGE(64), REINSTATE(192);

    private final int operation;
    private final List<OperationListener> listeners = new ArrayList<>();

    OperationEnum(int op) {
        this.operation = op;
    }

    public boolean isNewOperation() {
        return operation == 2 || operation == 4 || operation == 192;
    }

    public synchronized void addListener(OperationListener l) {
        listeners.add(l);
    }

    public synchronized void removeListener(OperationListener l) {
        listeners.remove(l);
    }

    public synchronized int fire() {
        for (OperationListener l : listeners) {
            l.onOperation(this);
        }
        return listeners.size();
    }
}
