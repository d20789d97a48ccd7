package dev.batchrpc.runtime.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.vertx.core.http.ClientAuth;
import java.io.InputStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CertificatesTest {

  @TempDir
  Path dir;

  private static X509Certificate read(Path file) throws Exception {
    try (InputStream in = Files.newInputStream(file)) {
      return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
    }
  }

  /** PKIX validation of a node certificate against the CA alone, as a TLS peer validates it. */
  private static void validate(X509Certificate node, X509Certificate ca) throws Exception {
    CertificateFactory cf = CertificateFactory.getInstance("X.509");
    PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(ca, null)));
    params.setRevocationEnabled(false);
    CertPathValidator.getInstance("PKIX").validate(cf.generateCertPath(List.of(node)), params);
  }

  @Test
  void makesACaAndNodeCertificatesThatChainToIt() throws Exception {
    Certificates.Result r =
        Certificates.write(dir, List.of("ps", "trainer-0"), List.of("127.0.0.1", "ps.local", "::1"), 30);
    assertThat(r.caCreated()).isTrue();
    assertThat(r.files()).extracting(p -> p.getFileName().toString())
        .containsExactly("ca.pem", "ca-key.pem", "ps.pem", "ps-key.pem", "trainer-0.pem", "trainer-0-key.pem");

    X509Certificate ca = read(dir.resolve("ca.pem"));
    assertThat(ca.getBasicConstraints()).isGreaterThanOrEqualTo(0);
    X509Certificate ps = read(dir.resolve("ps.pem"));
    validate(ps, ca);
    validate(read(dir.resolve("trainer-0.pem")), ca);
    assertThat(ps.getSubjectX500Principal().getName()).isEqualTo("CN=ps");
    assertThat(ps.getBasicConstraints()).isEqualTo(-1);
    // One certificate for both ends of a connection.
    assertThat(ps.getExtendedKeyUsage()).containsExactlyInAnyOrder("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
    assertThat(ps.getSubjectAlternativeNames().stream().map(n -> n.get(0) + "=" + n.get(1)).toList())
        .containsExactly("7=127.0.0.1", "2=ps.local", "7=0:0:0:0:0:0:0:1");
    assertThat(ps.getNotAfter().getTime() - System.currentTimeMillis()).isBetween(29L * 86_400_000, 30L * 86_400_000);
    // The files are what TlsConfig accepts.
    TlsConfig tls = Certificates.tlsConfig(dir, "ps", ClientAuth.REQUIRED);
    assertThat(tls.key()).isEqualTo(dir.resolve("ps-key.pem"));
    assertThat(Files.readString(tls.key())).startsWith("-----BEGIN PRIVATE KEY-----");
  }

  @Test
  void privateKeysAreReadableByTheOwnerAlone() throws Exception {
    assumeThat(FileSystems.getDefault().supportedFileAttributeViews()).contains("posix");
    Path out = dir.resolve("new/certs");
    Certificates.write(out, List.of("node"), Certificates.DEFAULT_HOSTS, 1);
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(out.resolve("ca-key.pem")))).isEqualTo("rw-------");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(out.resolve("node-key.pem")))).isEqualTo("rw-------");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(out.resolve("node.pem")))).isEqualTo("rw-r--r--");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(out))).isEqualTo("rwx------");
    try (var files = Files.list(out)) {
      assertThat(files.map(p -> p.getFileName().toString())).as("no temporary file left")
          .containsExactlyInAnyOrder("ca.pem", "ca-key.pem", "node.pem", "node-key.pem");
    }
  }

  @Test
  void aSecondRunReusesTheCaAndAnotherCaIsNotTrusted() throws Exception {
    Certificates.write(dir, List.of("a"), Certificates.DEFAULT_HOSTS, 1);
    String caPem = Files.readString(dir.resolve("ca.pem"));
    Certificates.Result again = Certificates.write(dir, List.of("b"), Certificates.DEFAULT_HOSTS, 1);
    assertThat(again.caCreated()).isFalse();
    assertThat(again.files()).extracting(p -> p.getFileName().toString()).containsExactly("b.pem", "b-key.pem");
    assertThat(Files.readString(dir.resolve("ca.pem"))).isEqualTo(caPem);
    validate(read(dir.resolve("b.pem")), read(dir.resolve("ca.pem")));

    Path other = dir.resolve("other");
    Certificates.write(other, List.of("a"), Certificates.DEFAULT_HOSTS, 1);
    assertThatThrownBy(() -> validate(read(other.resolve("a.pem")), read(dir.resolve("ca.pem"))))
        .isInstanceOf(CertPathValidatorException.class);
  }

  @Test
  void withItsOwnDirectoryTheCaKeyNeverReachesTheNodesFiles() throws Exception {
    Path ca = dir.resolve("ca");
    Path nodes = dir.resolve("nodes");
    Certificates.Result r = Certificates.write(ca, nodes, List.of("n"), Certificates.DEFAULT_HOSTS, 1);
    assertThat(r.files()).containsExactly(ca.resolve("ca.pem"), ca.resolve("ca-key.pem"), nodes.resolve("ca.pem"),
        nodes.resolve("n.pem"), nodes.resolve("n-key.pem"));
    try (var files = Files.list(nodes)) {
      assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("ca.pem", "n.pem", "n-key.pem");
    }
    assertThat(Files.readString(nodes.resolve("ca.pem"))).isEqualTo(Files.readString(ca.resolve("ca.pem")));
    validate(read(nodes.resolve("n.pem")), read(nodes.resolve("ca.pem")));
  }

  @Test
  void badInputIsRefusedWithTheFlagsName() throws Exception {
    assertThatThrownBy(() -> Certificates.write(dir, List.of("a b"), Certificates.DEFAULT_HOSTS, 1))
        .hasMessageContaining("--name");
    assertThatThrownBy(() -> Certificates.write(dir, List.of("ca"), Certificates.DEFAULT_HOSTS, 1))
        .hasMessageContaining("--name");
    assertThatThrownBy(() -> Certificates.write(dir, List.of("x", "x"), Certificates.DEFAULT_HOSTS, 1))
        .hasMessageContaining("--name has a duplicate");
    assertThatThrownBy(() -> Certificates.write(dir, List.of("a"), List.of("300.1.1.1"), 1))
        .hasMessageContaining("--hosts");
    assertThatThrownBy(() -> Certificates.write(dir, List.of("a"), List.of("bad host"), 1))
        .hasMessageContaining("--hosts");
    assertThatThrownBy(() -> Certificates.write(dir, List.of("a"), Certificates.DEFAULT_HOSTS, 0))
        .hasMessageContaining("--days");
    assertThat(dir).isEmptyDirectory();

    // Half a CA: refused rather than silently replaced.
    Certificates.write(dir, List.of("a"), Certificates.DEFAULT_HOSTS, 1);
    Files.delete(dir.resolve("ca-key.pem"));
    assertThatThrownBy(() -> Certificates.write(dir, List.of("b"), Certificates.DEFAULT_HOSTS, 1))
        .hasMessageContaining("ca.pem").hasMessageContaining("ca-key.pem");
    // A key that is not the CA's.
    Files.copy(dir.resolve("a-key.pem"), dir.resolve("ca-key.pem"));
    assertThatThrownBy(() -> Certificates.write(dir, List.of("b"), Certificates.DEFAULT_HOSTS, 1))
        .hasMessageContaining("is not the key of");
  }
}
