package dev.batchrpc.suite;

import dev.batchrpc.runtime.net.Certificates;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code batch-rpc certs}: a private CA and node certificates for {@code --tls-*} (docs/security.md). */
@Command(name = "certs", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Writes TLS material for the --tls-cert, --tls-key and --tls-ca flags into --out: a private",
        "CA (ca.pem, ca-key.pem; reused when the directory has one) and, signed by it, a certificate",
        "and key per --name (<name>.pem, <name>-key.pem). Keys are ECDSA P-256, unencrypted PKCS#8,",
        "mode 0600. Keep ca-key.pem off the nodes (--ca-dir): they need ca.pem and their own pair.",
        ""})
public final class CertsCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Option(names = "--out", required = true, description = "Directory to write into (made with mode 0700 if missing).")
  Path out;

  @Option(names = "--ca-dir",
      description = "Directory of the CA (ca.pem, ca-key.pem), made or reused; --out then gets a copy of "
          + "ca.pem but never the CA key. Default: --out.")
  Path caDir;

  @Option(names = "--name", split = ",", defaultValue = "node",
      description = "Node certificate name(s), comma-separated or repeated. Default: ${DEFAULT-VALUE}.")
  List<String> names;

  @Option(names = "--hosts", split = ",", defaultValue = "127.0.0.1,localhost",
      description = "Subject alternative names of the node certificates: IP addresses and DNS names. "
          + "Default: ${DEFAULT-VALUE}.")
  List<String> hosts;

  @Option(names = "--days", defaultValue = "365",
      description = "Lifetime of the node certificates, 1-3650 days (the CA's is ten years). Default: ${DEFAULT-VALUE}.")
  int days;

  @Override
  public Integer call() throws Exception {
    Certificates.Result result;
    try {
      result = Certificates.write(caDir == null ? out : caDir, out, names, hosts, days);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    Path ca = caDir == null ? out : caDir;
    System.out.println("certs: " + (result.caCreated() ? "new CA" : "reused the CA") + " in " + ca.toAbsolutePath());
    for (Path p : result.files()) {
      System.out.println("  " + p);
    }
    System.out.println("certs: run each node with --tls-cert <name>.pem --tls-key <name>-key.pem --tls-ca "
        + out.resolve(Certificates.CA_CERT) + " (or BATCHRPC_TLS_CERT, _KEY, _CA)");
    return 0;
  }
}
