package leakagent.app.spring;

/** A JavaBean of the application, introspected by Spring. */
public class SpringBean {
    private String name;
    private long size;

    public String getName() { return name; }
    public void setName(String name) { this.name = name; }
    public long getSize() { return size; }
    public void setSize(long size) { this.size = size; }
}
