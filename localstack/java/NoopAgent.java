import java.lang.instrument.Instrumentation;

/**
 * A Java agent that does nothing.
 *
 * LocalStack starts DynamoDB Local with {@code -javaagent:ddb-local-loader-0.1.jar}, an
 * agent it downloads from GitHub to lift DynamoDB Local's limit of 20 global secondary
 * indexes. The JVM refuses to start when the agent jar is missing, and GitHub cannot be
 * reached here; the outbox table has one index, so an agent that changes nothing serves.
 * localstack/setup.sh builds this class into the jar at the path LocalStack expects.
 */
public final class NoopAgent {
  private NoopAgent() {}

  /** Called by the JVM before {@code main}; deliberately empty. */
  public static void premain(String arguments, Instrumentation instrumentation) {}

  /** The single-argument form, for JVMs that look for it. */
  public static void premain(String arguments) {}
}
