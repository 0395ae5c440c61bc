package leakagent.app.healthy;

public enum Status { ACTIVE, SUSPENDED }
