package dev.batchrpc.runtime.net;

import io.vertx.core.http.ClientAuth;
import io.vertx.core.shareddata.Shareable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A node's TLS material: its certificate chain and private key, and the CA bundle that its peers'
 * certificates must chain to. Immutable and checked at construction: each file must exist, be
 * readable and hold the PEM block it should; an error names the flag and the path.
 *
 * <p>With it, the clustered event bus uses TLS and requires every peer to present a certificate
 * of the CA (always), and the gRPC servers use TLS with {@link #grpcClientAuth()}; see {@link Tls}
 * and docs/security.md. Make the files with {@code batch-rpc certs}.
 *
 * @param cert {@code --tls-cert}: this node's PEM certificate chain (leaf first)
 * @param key {@code --tls-key}: the PEM private key of the certificate (PKCS#8
 *     {@code BEGIN PRIVATE KEY}; an unencrypted PKCS#1 RSA or SEC1 EC key works too)
 * @param ca {@code --tls-ca}: the PEM CA certificates trusted for peers (event bus, gRPC clients)
 * @param grpcClientAuth {@code --grpc-client-auth}: whether the gRPC servers ask gRPC clients for
 *     a certificate of the CA ({@link ClientAuth#REQUIRED}: they must present one)
 */
public record TlsConfig(Path cert, Path key, Path ca, ClientAuth grpcClientAuth) implements Shareable {

  /** Longest PEM file read to check its contents; a certificate bundle is a few KB. */
  private static final long MAX_PEM_BYTES = 1 << 20;

  /** Checks that each file is a readable PEM file of the right kind. */
  public TlsConfig {
    checkPem("--tls-cert", cert, "CERTIFICATE");
    checkPem("--tls-key", key, "PRIVATE KEY");
    checkPem("--tls-ca", ca, "CERTIFICATE");
    if (grpcClientAuth == null) {
      throw new IllegalArgumentException("--grpc-client-auth must be none, request or required");
    }
  }

  /**
   * The config for the three flags, or {@code null} when none is set (no TLS). Blank values count
   * as unset (an empty environment variable).
   *
   * @param cert {@code --tls-cert}
   * @param key {@code --tls-key}
   * @param ca {@code --tls-ca}
   * @param grpcClientAuth {@code --grpc-client-auth}: {@code none}, {@code request} or
   *     {@code required}
   * @return the checked config, or null for no TLS
   * @throws IllegalArgumentException when only some of the three are set (naming the missing
   *     ones), for an unreadable or wrong file (naming the flag and the path), or a bad
   *     {@code --grpc-client-auth}
   */
  public static TlsConfig of(String cert, String key, String ca, String grpcClientAuth) {
    List<String> missing = new ArrayList<>();
    if (isBlank(cert)) {
      missing.add("--tls-cert");
    }
    if (isBlank(key)) {
      missing.add("--tls-key");
    }
    if (isBlank(ca)) {
      missing.add("--tls-ca");
    }
    if (missing.size() == 3) {
      return null;
    }
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException("TLS needs --tls-cert, --tls-key and --tls-ca together (or none of "
          + "them); missing " + String.join(", ", missing));
    }
    return new TlsConfig(Path.of(cert.trim()), Path.of(key.trim()), Path.of(ca.trim()),
        parseClientAuth(grpcClientAuth));
  }

  /**
   * Parses {@code --grpc-client-auth}.
   *
   * @param value {@code none}, {@code request} or {@code required} (any case)
   * @return the Vert.x value
   * @throws IllegalArgumentException for anything else
   */
  public static ClientAuth parseClientAuth(String value) {
    String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
    return switch (v) {
      case "none" -> ClientAuth.NONE;
      case "request" -> ClientAuth.REQUEST;
      case "required" -> ClientAuth.REQUIRED;
      default -> throw new IllegalArgumentException("--grpc-client-auth must be none, request or required, got '"
          + value + "'");
    };
  }

  private static boolean isBlank(String s) {
    return s == null || s.isBlank();
  }

  /**
   * Reads the file here, at start, so that a wrong path fails with the flag's name rather than
   * as a TLS error from deep inside the first listen or connect.
   */
  private static void checkPem(String flag, Path path, String block) {
    if (path == null) {
      throw new IllegalArgumentException(flag + " is required for TLS");
    }
    if (!Files.isRegularFile(path)) {
      throw new IllegalArgumentException(flag + ": no such file " + path.toAbsolutePath());
    }
    String text;
    try {
      if (Files.size(path) > MAX_PEM_BYTES) {
        throw new IllegalArgumentException(flag + ": " + path.toAbsolutePath() + " is over 1 MB, not a PEM file");
      }
      // Latin-1 maps every byte, so a binary (DER) file reads and fails the check below.
      text = new String(Files.readAllBytes(path), StandardCharsets.ISO_8859_1);
    } catch (IOException e) {
      throw new IllegalArgumentException(flag + ": cannot read " + path.toAbsolutePath() + " (" + e + ")", e);
    }
    if (text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
      throw new IllegalArgumentException(flag + ": " + path.toAbsolutePath()
          + " is an encrypted key; give an unencrypted PKCS#8 key (-----BEGIN PRIVATE KEY-----)");
    }
    if (!text.contains("-----BEGIN ") || !text.contains(block + "-----")) {
      throw new IllegalArgumentException(flag + ": " + path.toAbsolutePath() + " holds no PEM '" + block
          + "' block");
    }
  }
}
