/**
 * Throwaway TLS material for tests, made with the `openssl` CLI: a private CA, a server certificate for
 * `localhost` and `127.0.0.1`, and a client certificate, all signed by that CA and valid for two days. Also
 * {@link startTlsRedis}: a redis-server serving only TLS with that material, optionally with ACL users.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RedisServer, startRedisServer } from "@flotilla/launcher";

/** Paths of the PEM files {@link makeTestCertificates} wrote, and the directory holding them. */
export interface TestCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** Reads one of the files above as text. */
  read(file: string): string;
  /** Removes the directory. */
  dispose(): void;
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** Signs a new P-256 key's certificate for `subject` with the CA in `dir`. */
function issue(dir: string, name: string, subject: string, extensions: string, serial: number): void {
  const curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(dir, ["req", ...curve, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject]);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-set_serial",
    String(serial),
    "-days",
    "2",
    "-out",
    `${name}.pem`,
    "-extfile",
    `${name}.ext`,
  ]);
}

/** Makes a private CA, a server certificate for `localhost`/`127.0.0.1` and a client certificate. */
export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-tls-"));
  openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=flotilla test CA",
  ]);
  issue(
    dir,
    "server",
    "/CN=localhost",
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    2,
  );
  issue(dir, "client", "/CN=flotilla test client", "extendedKeyUsage=clientAuth\n", 3);
  return {
    dir,
    caFile: join(dir, "ca.pem"),
    certFile: join(dir, "server.pem"),
    keyFile: join(dir, "server.key"),
    clientCertFile: join(dir, "client.pem"),
    clientKeyFile: join(dir, "client.key"),
    read: (file) => readFileSync(file, "utf8"),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A TLS-only redis-server and the certificates it was started with. */
export interface TlsRedis {
  readonly server: RedisServer;
  readonly certificates: TestCertificates;
  /** Stops the server and removes its directory and the certificates. */
  dispose(): Promise<void>;
}

/**
 * Starts a redis-server that serves only `rediss://` with fresh test certificates. `authClients: "yes"`
 * makes it require a client certificate; `users` are ACL rule lines as in {@link startRedisServer}.
 */
export async function startTlsRedis(
  options: { authClients?: "yes" | "optional" | "no"; users?: readonly string[] } = {},
): Promise<TlsRedis> {
  const certificates = makeTestCertificates();
  try {
    const server = await startRedisServer({
      tls: {
        certFile: certificates.certFile,
        keyFile: certificates.keyFile,
        caFile: certificates.caFile,
        authClients: options.authClients ?? "no",
      },
      ...(options.users === undefined ? {} : { users: options.users }),
    });
    return {
      server,
      certificates,
      async dispose() {
        await server.dispose();
        certificates.dispose();
      },
    };
  } catch (error) {
    certificates.dispose();
    throw error;
  }
}
