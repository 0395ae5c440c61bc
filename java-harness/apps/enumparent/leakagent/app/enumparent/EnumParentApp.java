package leakagent.app.enumparent;

import java.util.Map;

import leakagent.harness.App;
import leakagent.shared.OperationEnum;

/**
 * Uses the shared OperationEnum (defined by the container's shared loader) and registers a
 * listener on OperationEnum.CHANGE: OperationEnum.CHANGE -> OperationEnum.listeners ->
 * ArrayList.elementData -> ChangeListener -> class -> loader. Fixed twin: removeListener in stop().
 */
public class EnumParentApp implements App {
    private boolean fixed;
    private ChangeListener listener;

    @Override
    public void start(Map<String, Object> context) {
        fixed = (Boolean) context.get("fixed");
        listener = new ChangeListener();
        OperationEnum.CHANGE.addListener(listener);
        OperationEnum.CHANGE.fire();
        if (listener.seen != 1 || !OperationEnum.RENEW.isNewOperation()) throw new IllegalStateException();
    }

    @Override
    public void stop() {
        if (fixed) {
            OperationEnum.CHANGE.removeListener(listener);
        }
        listener = null;
    }
}
