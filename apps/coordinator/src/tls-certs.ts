/**
 * The fleet's private certificate authority: `makeFleetCertificates` makes a CA (key and self-signed
 * certificate) and a server certificate signed by it for the DNS names and IP addresses given, all as PEM.
 * Keys are ECDSA P-256 made by Node's WebCrypto; the X.509 encoding is `@peculiar/x509`'s, loaded only
 * when certificates are made, so a coordinator that never runs `init-tls` never loads it.
 */

import { webcrypto } from "node:crypto";
import { isIP } from "node:net";

/** A private CA and a server certificate it signed, as PEM text. */
export interface FleetCertificates {
  caKey: string;
  caCert: string;
  serverKey: string;
  serverCert: string;
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 24 * 3600 * 1000;
/** The CA outlives the server certificates it signs: ten years against two. */
const CA_DAYS = 3650;
const SERVER_DAYS = 825;

/** Splits `a.local,b.local,10.0.0.5` into the SAN entries of a certificate. */
export function parseNames(list: string): { dns: string[]; ips: string[] } {
  const names = list
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  const dns: string[] = [];
  const ips: string[] = [];
  for (const name of names) {
    if (isIP(name) !== 0) ips.push(name);
    else if (/^[a-z0-9*]([a-z0-9.-]*[a-z0-9])?$/i.test(name)) dns.push(name);
    else throw new RangeError(`"${name}" is neither a host name nor an IP address`);
  }
  return { dns, ips };
}

/** A random positive serial number, as hex (RFC 5280: at most 20 bytes, first bit clear). */
function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

/** Makes a CA and a server certificate for `names` (at least one DNS name or IP address). */
export async function makeFleetCertificates(names: {
  dns: readonly string[];
  ips: readonly string[];
}): Promise<FleetCertificates> {
  if (names.dns.length + names.ips.length === 0) throw new RangeError("at least one name is needed");
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  // Node's WebCrypto is the standard one; only the DOM typings the library names differ.
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const now = Date.now();
  // A minute back: a peer whose clock runs a little behind still sees the certificate as valid.
  const notBefore = new Date(now - 60_000);
  const caKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const caName = `CN=Flotilla fleet CA ${new Date(now).toISOString().slice(0, 10)}`;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: caName,
    notBefore,
    notAfter: new Date(now + CA_DAYS * DAY_MS),
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const san = [
    ...names.dns.map((value) => ({ type: "dns" as const, value })),
    ...names.ips.map((value) => ({ type: "ip" as const, value })),
  ];
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${names.dns[0] ?? names.ips[0]}`,
    issuer: ca.subject,
    notBefore,
    notAfter: new Date(now + SERVER_DAYS * DAY_MS),
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(san),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return {
    caKey: await privateKeyPem(caKeys.privateKey),
    caCert: `${ca.toString("pem")}\n`,
    serverKey: await privateKeyPem(serverKeys.privateKey),
    serverCert: `${server.toString("pem")}\n`,
  };
}
