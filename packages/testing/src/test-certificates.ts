import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A certificate and its private key, as files and as PEM text. */
export interface CertificateFiles {
  /** Path of the PEM certificate. */
  readonly certPath: string;
  /** Path of the PEM private key (EC P-256, unencrypted). */
  readonly keyPath: string;
  /** The certificate, PEM. */
  readonly cert: string;
  /** The private key, PEM. */
  readonly key: string;
}

/** Throwaway certificates for TLS tests, made by {@link createTestCertificates}. */
export interface TestCertificates {
  /** Folder holding every file. */
  readonly dir: string;
  /** The CA that signs `server`, `client` and `expiredClient`. */
  readonly ca: CertificateFiles;
  /** Server certificate for `127.0.0.1` and `localhost` (SAN IP and DNS), usable for server and client auth. */
  readonly server: CertificateFiles;
  /** Client certificate with CN `root` (etcd maps a client certificate's CN to the user name). */
  readonly client: CertificateFiles;
  /** Client certificate with CN `root` whose validity ended before it began: always expired. */
  readonly expiredClient: CertificateFiles;
  /** A second CA that nothing trusts, for wrong-CA tests. */
  readonly otherCa: CertificateFiles;
  /** Client certificate with CN `root` signed by `otherCa`. */
  readonly otherCaClient: CertificateFiles;
  /** Deletes `dir`. */
  remove(): Promise<void>;
}

const curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * Creates a throwaway CA and certificates with the `openssl` CLI (EC P-256 keys, valid for 2 days).
 *
 * @param dir - Folder to write into; it must exist. Default: a new temporary folder (`os.tmpdir()`).
 * @throws When `openssl` is not on `PATH` or fails; the error carries openssl's output.
 */
export async function createTestCertificates(dir?: string): Promise<TestCertificates> {
  const folder = dir ?? (await mkdtemp(join(tmpdir(), "etcd-connect-certs-")));
  const path = (name: string) => join(folder, name);
  await Promise.all([
    writeFile(
      path("server.ext"),
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    ),
    writeFile(path("client.ext"), "extendedKeyUsage=clientAuth\n"),
  ]);
  const [ca, otherCa] = await Promise.all([
    selfSignedCa(path, "ca", "etcd-connect test CA"),
    selfSignedCa(path, "other-ca", "etcd-connect unrelated CA"),
  ]);
  const [server, client, expiredClient, otherCaClient] = await Promise.all([
    signed(path, "server", "127.0.0.1", ca, "server.ext", "valid"),
    signed(path, "client", "root", ca, "client.ext", "valid"),
    signed(path, "expired-client", "root", ca, "client.ext", "expired"),
    signed(path, "other-ca-client", "root", otherCa, "client.ext", "valid"),
  ]);
  return {
    dir: folder,
    ca,
    server,
    client,
    expiredClient,
    otherCa,
    otherCaClient,
    remove: () => rm(folder, { recursive: true, force: true }),
  };
}

type PathOf = (name: string) => string;

async function selfSignedCa(path: PathOf, name: string, commonName: string): Promise<CertificateFiles> {
  await openssl([
    "req",
    "-x509",
    ...curve,
    "-keyout",
    path(`${name}.key`),
    "-out",
    path(`${name}.crt`),
    "-days",
    "2",
    "-subj",
    `/CN=${commonName}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return load(path, name);
}

async function signed(
  path: PathOf,
  name: string,
  commonName: string,
  issuer: CertificateFiles,
  extFile: string,
  validity: "valid" | "expired",
): Promise<CertificateFiles> {
  const csr = path(`${name}.csr`);
  await openssl([
    "req",
    "-new",
    ...curve,
    "-keyout",
    path(`${name}.key`),
    "-out",
    csr,
    "-subj",
    `/CN=${commonName}`,
  ]);
  const sign = [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    issuer.certPath,
    "-CAkey",
    issuer.keyPath,
    "-set_serial",
    `0x${randomBytes(8).toString("hex")}`,
    "-extfile",
    path(extFile),
    "-out",
    path(`${name}.crt`),
  ];
  if (validity === "valid") {
    await openssl([...sign, "-days", "2"]);
  } else {
    // OpenSSL 3.0 to 3.3 accept negative days (notAfter before notBefore); newer ones have -not_after.
    await openssl([...sign, "-days", "-1"]).catch(() =>
      openssl([...sign, "-not_before", "20200101000000Z", "-not_after", "20200102000000Z"]),
    );
  }
  return load(path, name);
}

async function load(path: PathOf, name: string): Promise<CertificateFiles> {
  const certPath = path(`${name}.crt`);
  const keyPath = path(`${name}.key`);
  const [cert, key] = await Promise.all([readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
  return { certPath, keyPath, cert, key };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run("openssl", args, { timeout: 30_000 });
  } catch (error) {
    const output = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args.slice(0, 2).join(" ")} failed: ${output.trim()}`, { cause: error });
  }
}
