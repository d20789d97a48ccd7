package dev.batchrpc.runtime.net;

import io.vertx.core.http.ClientAuth;
import java.io.IOException;
import java.io.Reader;
import java.io.StringWriter;
import java.io.Writer;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Makes the TLS material of a deployment ({@code batch-rpc certs}): a private CA and, signed by
 * it, one certificate per node. Keys are ECDSA P-256, certificates are signed with SHA-256, files
 * are PEM: {@code ca.pem}, {@code ca-key.pem}, {@code <name>.pem}, {@code <name>-key.pem} (an
 * unencrypted PKCS#8 key). Private keys are written with permissions 0600 (on a POSIX file
 * system), through a temporary file created with them, so no key is ever readable by others.
 *
 * <p>A node certificate serves both ends of a connection (extended key usages serverAuth and
 * clientAuth): a node is a server and a client of the event bus. Its subject alternative names
 * are the given hosts (IP addresses and DNS names); nothing checks them inside the cluster (see
 * {@link Tls}), but a gRPC client outside it, which verifies host names, does.
 *
 * <p>A CA already in the directory is reused (adding nodes later), never overwritten; node files
 * of the same name are replaced.
 *
 * <p>BouncyCastle builds the certificates and writes the PEM; the keys and signatures come from
 * the JDK's own providers (no provider is registered).
 *
 * <p>Length: over 350 lines on purpose. It is the whole of {@code batch-rpc certs}' small CA (a CA,
 * node and client certificates, PEM in and out) in one place, so that the security-relevant choices
 * (key sizes, validity, extensions, file permissions) are read together; every method is short.
 */
public final class Certificates {

  /** The CA certificate's file name. */
  public static final String CA_CERT = "ca.pem";
  /** The CA private key's file name. */
  public static final String CA_KEY = "ca-key.pem";
  /** The subject alternative names a certificate gets by default: this machine's loopback. */
  public static final List<String> DEFAULT_HOSTS = List.of("127.0.0.1", "localhost");
  /** The CA's lifetime: ten years (node certificates are renewed under it). */
  public static final int CA_DAYS = 3650;

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
  private static final Pattern DNS =
      Pattern.compile("(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*");
  private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
  private static final String SIGNATURE = "SHA256withECDSA";
  private static final SecureRandom RANDOM = new SecureRandom();

  /**
   * What one call wrote.
   *
   * @param caCreated whether a new CA was made (false: the directory's CA was reused)
   * @param files every file written, CA files first
   */
  public record Result(boolean caCreated, List<Path> files) {
  }

  private Certificates() {
  }

  /**
   * Writes a certificate and key for each name into {@code dir}, signed by the directory's CA,
   * which is made first if the directory has none.
   *
   * @param dir the output directory, for the CA and the nodes (made, with permissions 0700, when
   *     missing)
   * @param names the nodes' names: letters, digits, '.', '_', '-' (not {@code ca})
   * @param hosts the subject alternative names of every node certificate: IP addresses or DNS
   *     names (a leading {@code *.} allowed)
   * @param days the node certificates' lifetime, 1-3650
   * @return what was written
   * @throws IllegalArgumentException for a bad name, host or lifetime, or a directory holding half
   *     a CA or a CA that is not one
   * @throws IOException when a file cannot be read or written
   */
  public static Result write(Path dir, List<String> names, List<String> hosts, int days) throws IOException {
    return write(dir, dir, names, hosts, days);
  }

  /**
   * As {@link #write(Path, List, List, int)}, with the CA in its own directory: {@code out} gets
   * the node files and a copy of {@code ca.pem}, everything a node needs and no more, while
   * {@code ca-key.pem} stays in {@code caDir}.
   *
   * @param caDir where the CA is read from or made (made with permissions 0700 when missing)
   * @param out where the node files and the copy of {@code ca.pem} go
   * @param names the nodes' names
   * @param hosts the node certificates' subject alternative names
   * @param days the node certificates' lifetime, 1-3650
   * @return what was written
   * @throws IOException when a file cannot be read or written
   */
  public static Result write(Path caDir, Path out, List<String> names, List<String> hosts, int days)
      throws IOException {
    if (names == null || names.isEmpty()) {
      throw new IllegalArgumentException("--name: give at least one node name");
    }
    for (String name : names) {
      if (!NAME.matcher(name).matches() || name.equals("ca")) {
        throw new IllegalArgumentException("--name must be 1-64 letters, digits, '.', '_' or '-' and not 'ca', got '"
            + name + "'");
      }
    }
    if (new LinkedHashSet<>(names).size() != names.size()) {
      throw new IllegalArgumentException("--name has a duplicate: " + names);
    }
    GeneralNames sans = subjectAltNames(hosts);
    if (days < 1 || days > CA_DAYS) {
      throw new IllegalArgumentException("--days must be 1-" + CA_DAYS + ", got " + days);
    }
    createPrivateDirectory(caDir);
    createPrivateDirectory(out);
    List<Path> written = new ArrayList<>();
    Path caCert = caDir.resolve(CA_CERT);
    Path caKey = caDir.resolve(CA_KEY);
    boolean created;
    Authority ca;
    try {
      if (Files.exists(caCert) || Files.exists(caKey)) {
        ca = Authority.load(caCert, caKey);
        created = false;
      } else {
        ca = Authority.create("batch-rpc CA " + Instant.now());
        writeFile(caKey, pem(pkcs8(ca.key)), true);
        writeFile(caCert, pem(ca.cert), false);
        written.add(caCert);
        written.add(caKey);
        created = true;
      }
      if (!Files.isSameFile(caDir, out)) {
        Path copy = out.resolve(CA_CERT);
        writeFile(copy, pem(ca.cert), false);
        written.add(copy);
      }
      for (String name : names) {
        KeyPair pair = newKeyPair();
        X509Certificate cert = ca.issue(name, pair, sans, days);
        Path key = out.resolve(name + "-key.pem");
        Path crt = out.resolve(name + ".pem");
        writeFile(key, pem(pkcs8(pair.getPrivate())), true);
        writeFile(crt, pem(cert), false);
        written.add(crt);
        written.add(key);
      }
    } catch (GeneralSecurityException | OperatorCreationException e) {
      throw new IllegalStateException("cannot make certificates: " + e.getMessage(), e);
    }
    return new Result(created, List.copyOf(written));
  }

  /**
   * The TLS config of a node whose files {@link #write} made in {@code dir}.
   *
   * @param dir the directory
   * @param name the node's name
   * @param grpcClientAuth the gRPC servers' client authentication
   * @return the config (its files checked)
   */
  public static TlsConfig tlsConfig(Path dir, String name, ClientAuth grpcClientAuth) {
    return new TlsConfig(dir.resolve(name + ".pem"), dir.resolve(name + "-key.pem"), dir.resolve(CA_CERT),
        grpcClientAuth);
  }

  // ---- the CA -----------------------------------------------------------------------------------

  /** A CA's certificate and key. */
  private record Authority(X509Certificate cert, PrivateKey key) {

    static Authority create(String commonName) throws GeneralSecurityException, OperatorCreationException,
        IOException {
      KeyPair pair = newKeyPair();
      X500Name subject = new X500Name("CN=" + commonName);
      Instant now = Instant.now();
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, serial(),
          Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(CA_DAYS))), subject,
          pair.getPublic());
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
      b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
      b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()));
      return new Authority(sign(b, pair.getPrivate()), pair.getPrivate());
    }

    static Authority load(Path certFile, Path keyFile) throws IOException, GeneralSecurityException {
      if (!Files.exists(certFile) || !Files.exists(keyFile)) {
        throw new IllegalArgumentException(certFile.getParent() + " holds only one of " + CA_CERT + " and "
            + CA_KEY + ": restore the other, or use another directory");
      }
      if (!(readPem(certFile) instanceof X509CertificateHolder holder)) {
        throw new IllegalArgumentException(certFile + " holds no PEM certificate");
      }
      X509Certificate cert = new JcaX509CertificateConverter().getCertificate(holder);
      if (!(readPem(keyFile) instanceof PrivateKeyInfo info)) {
        throw new IllegalArgumentException(keyFile + " holds no PKCS#8 private key");
      }
      PrivateKey key = new JcaPEMKeyConverter().getPrivateKey(info);
      if (cert.getBasicConstraints() < 0) {
        throw new IllegalArgumentException(certFile + " is not a CA certificate");
      }
      // The key must be the certificate's: sign and verify a probe.
      byte[] probe = new byte[32];
      RANDOM.nextBytes(probe);
      Signature s = Signature.getInstance(SIGNATURE);
      s.initSign(key);
      s.update(probe);
      byte[] sig = s.sign();
      Signature v = Signature.getInstance(SIGNATURE);
      v.initVerify(cert.getPublicKey());
      v.update(probe);
      if (!v.verify(sig)) {
        throw new IllegalArgumentException(keyFile + " is not the key of " + certFile);
      }
      return new Authority(cert, key);
    }

    X509Certificate issue(String name, KeyPair pair, GeneralNames sans, int days)
        throws GeneralSecurityException, OperatorCreationException, IOException {
      Instant now = Instant.now();
      Instant notAfter = now.plus(Duration.ofDays(days));
      if (notAfter.isAfter(cert.getNotAfter().toInstant())) {
        // A certificate outliving its CA would stop working with it anyway; say so now.
        throw new IllegalArgumentException("--days " + days + " outlives the CA (valid until "
            + cert.getNotAfter().toInstant() + ")");
      }
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(cert, serial(),
          Date.from(now.minus(Duration.ofHours(1))), Date.from(notAfter), new X500Name("CN=" + name),
          pair.getPublic());
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
      b.addExtension(Extension.extendedKeyUsage, false,
          new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
      b.addExtension(Extension.subjectAlternativeName, false, sans);
      b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()));
      b.addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(cert));
      return sign(b, key);
    }
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /** The first PEM object of a file (a certificate holder, a key info, ...), or null. */
  private static Object readPem(Path file) throws IOException {
    try (Reader in = Files.newBufferedReader(file, StandardCharsets.US_ASCII);
        PEMParser parser = new PEMParser(in)) {
      return parser.readObject();
    }
  }

  private static KeyPair newKeyPair() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
    return g.generateKeyPair();
  }

  /** A positive random serial of 159 bits (RFC 5280: at most 20 bytes, unpredictable). */
  private static BigInteger serial() {
    return new BigInteger(159, RANDOM).add(BigInteger.ONE);
  }

  private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey key)
      throws GeneralSecurityException, OperatorCreationException {
    return new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder(SIGNATURE).build(key)));
  }

  private static GeneralNames subjectAltNames(List<String> hosts) {
    if (hosts == null || hosts.isEmpty()) {
      throw new IllegalArgumentException("--hosts: give at least one IP address or DNS name");
    }
    Set<GeneralName> names = new LinkedHashSet<>();
    for (String raw : hosts) {
      String host = raw == null ? "" : raw.trim();
      boolean ipv4 = IPV4.matcher(host).matches();
      if (ipv4 || (host.contains(":") && host.matches("[0-9A-Fa-f:.]+"))) {
        // Checked as a literal, so that InetAddress never takes it for a name to look up.
        boolean valid = ipv4 ? Arrays.stream(host.split("\\.")).allMatch(o -> Integer.parseInt(o) <= 255) : true;
        try {
          valid = valid && InetAddress.getByName(host) != null;
        } catch (IOException e) {
          valid = false;
        }
        if (!valid) {
          throw new IllegalArgumentException("--hosts: bad IP address '" + host + "'");
        }
        names.add(new GeneralName(GeneralName.iPAddress, host));
      } else if (DNS.matcher(host).matches() && host.length() <= 253) {
        names.add(new GeneralName(GeneralName.dNSName, host));
      } else {
        throw new IllegalArgumentException("--hosts: '" + host + "' is neither an IP address nor a DNS name");
      }
    }
    return new GeneralNames(names.toArray(GeneralName[]::new));
  }

  private static JcaPKCS8Generator pkcs8(PrivateKey key) throws IOException {
    return new JcaPKCS8Generator(key, null);
  }

  private static String pem(Object o) throws IOException {
    StringWriter out = new StringWriter();
    try (JcaPEMWriter w = new JcaPEMWriter(out)) {
      if (o instanceof JcaPKCS8Generator g) {
        w.writeObject(g);
      } else {
        w.writeObject(o);
      }
    }
    return out.toString();
  }

  private static boolean posix() {
    return FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
  }

  private static void createPrivateDirectory(Path dir) throws IOException {
    if (Files.isDirectory(dir)) {
      return;
    }
    if (posix()) {
      Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    } else {
      Files.createDirectories(dir);
    }
  }

  /**
   * Writes a file through a temporary file in the same directory, created with its final
   * permissions (0600 for a key, 0644 for a certificate), then moved into place.
   */
  private static void writeFile(Path file, String text, boolean secret) throws IOException {
    Path dir = file.toAbsolutePath().getParent();
    Path tmp;
    if (posix()) {
      Set<PosixFilePermission> perms = PosixFilePermissions.fromString(secret ? "rw-------" : "rw-r--r--");
      FileAttribute<Set<PosixFilePermission>> attr = PosixFilePermissions.asFileAttribute(perms);
      tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp", attr);
      // The umask may have narrowed a certificate's permissions at creation.
      Files.setPosixFilePermissions(tmp, perms);
    } else {
      tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
    }
    try {
      try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.US_ASCII)) {
        w.write(text);
      }
      try {
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }
}
