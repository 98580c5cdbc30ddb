import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * Runs DynamoDB Local bound to 127.0.0.1 only.
 *
 * DynamoDB Local has no bind-address option: its Jetty server listens on
 * 0.0.0.0, which would expose an unauthenticated database to the network.
 * This launcher builds the server exactly as DynamoDB Local's own command
 * line does (same arguments), then sets the host of every Jetty connector
 * to the loopback address before starting it.
 *
 * It also exits when its standard input reaches end-of-file: the Node parent
 * keeps a pipe open, so when the parent dies for any reason (even SIGKILL)
 * the server follows instead of lingering as an orphan.
 *
 * Run as a single-file source program (Java 11+):
 * java -cp DynamoDBLocal.jar:DynamoDBLocal_lib/* -Djava.library.path=DynamoDBLocal_lib \
 *   LoopbackDynamoDbLocal.java -port 8000 -inMemory -sharedDb -disableTelemetry
 */
public final class LoopbackDynamoDbLocal {
  private static final String HOST = "127.0.0.1";

  private LoopbackDynamoDbLocal() {}

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
    // The Node side waits for readiness by polling, so this line is informational only.
    System.out.println("DynamoDB Local listening on " + HOST);
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
    Thread watchdog = new Thread(() -> {
      InputStream in = System.in;
      byte[] buffer = new byte[256];
      try {
        while (in.read(buffer) >= 0) {
          // Discard; only end-of-file matters.
        }
      } catch (IOException ignored) {
        // A broken pipe means the parent is gone, the same as end-of-file.
      }
      System.exit(0);
    }, "parent-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
  }
}
