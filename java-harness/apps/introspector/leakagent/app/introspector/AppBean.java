package leakagent.app.introspector;

/** A JavaBean of the application. */
public class AppBean {
    private String name;
    private int size;

    public String getName() { return name; }
    public void setName(String name) { this.name = name; }
    public int getSize() { return size; }
    public void setSize(int size) { this.size = size; }
}
