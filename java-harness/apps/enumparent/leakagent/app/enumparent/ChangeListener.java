package leakagent.app.enumparent;

import leakagent.shared.OperationEnum;
import leakagent.shared.OperationListener;

/** The application's listener for OperationEnum.CHANGE. */
public class ChangeListener implements OperationListener {
    int seen;

    @Override
    public void onOperation(OperationEnum op) {
        seen++;
    }
}
