import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import type { ResolvedOptions } from "./etcd-options.js";
import { etcdPeerSender } from "./etcd-peer-sender.js";
import { EtcdStartError } from "./etcd-start-error.js";
import { createFaultProxy, type FaultProxy } from "./fault-proxy.js";
import { reservePorts } from "./free-port.js";
import { EtcdMember } from "./member.js";
import { registerCleanup } from "./process-registry.js";
import type { ClientTls } from "./request-json.js";
import { createTestCertificates, type TestCertificates } from "./test-certificates.js";

/** @internal What a launch hands over: running members, plus cleanup for what they share. */
export interface Launched {
  readonly members: EtcdMember[];
  readonly certificates: TestCertificates | undefined;
  /** Removes shared resources (generated certificates); members clean up after themselves. */
  readonly cleanup: () => Promise<void>;
}

const host = "127.0.0.1";
const attempts = 3;
let clusterCount = 0;

/**
 * Starts `options.size` members and waits until all are healthy with a leader. Ports are picked free just
 * before etcd binds them, so another process can win the race; a launch that fails with "address already
 * in use" is torn down and retried with new ports.
 *
 * @throws {EtcdStartError} With the log tail of every member that was not healthy.
 */
export async function launchMembers(options: ResolvedOptions): Promise<Launched> {
  const shared = await prepareCertificates(options);
  // A lone member owns the shared resources, but only once started: failed attempts must leave them for the retry.
  let started = false;
  const loneMemberOnClose =
    options.size === 1 ? () => (started ? shared.cleanup() : Promise.resolve()) : undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      const members = await spawnMembers(options, shared.certificates, loneMemberOnClose);
      try {
        await waitAllHealthy(members, options.startupTimeoutMs);
        // Cache member ids now, while every member answers: isolate() needs them even when some are down.
        await Promise.all(members.map((member) => member.memberId()));
        started = true;
        return { members, certificates: shared.certificates, cleanup: shared.cleanup };
      } catch (error) {
        await Promise.all(members.map((member) => member.close()));
        const portRace = members.some((member) => member.logTail().includes("address already in use"));
        if (!portRace || attempt >= attempts) throw error;
      }
    }
  } catch (error) {
    await shared.cleanup();
    throw error;
  }
}

async function prepareCertificates(
  options: ResolvedOptions,
): Promise<{ certificates: TestCertificates | undefined; cleanup: () => Promise<void> }> {
  const noop = async () => undefined;
  if (options.tls === undefined) return { certificates: undefined, cleanup: noop };
  if (options.tls.certificates !== undefined)
    return { certificates: options.tls.certificates, cleanup: noop };
  const certificates = await createTestCertificates(
    await mkdtemp(join(options.dataDirRoot, "etcd-connect-certs-")),
  );
  const unregister = registerCleanup(() => rmSync(certificates.dir, { recursive: true, force: true }));
  return {
    certificates,
    cleanup: async () => {
      await certificates.remove();
      unregister();
    },
  };
}

interface Slot {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly clientProxy: FaultProxy | undefined;
  readonly peerProxy: FaultProxy | undefined;
}

/** What every member of one launch shares. */
interface Plan {
  readonly options: ResolvedOptions;
  readonly scheme: "http" | "https";
  readonly initialCluster: string;
  readonly token: string;
  readonly certificates: TestCertificates | undefined;
  readonly clientTls: ClientTls | undefined;
  readonly onClose: (() => Promise<void>) | undefined;
}

async function spawnMembers(
  options: ResolvedOptions,
  certificates: TestCertificates | undefined,
  onClose: (() => Promise<void>) | undefined,
): Promise<EtcdMember[]> {
  const slots = await allocateSlots(options);
  clusterCount += 1;
  const plan: Plan = {
    options,
    scheme: options.tls === undefined ? "http" : "https",
    initialCluster: slots.map((slot) => `${slot.name}=${advertisedPeerUrl(slot)}`).join(","),
    token: `etcd-connect-${process.pid}-${clusterCount}-${randomBytes(4).toString("hex")}`,
    certificates,
    clientTls: clientTlsOf(options, certificates),
    onClose,
  };
  if (options.logDir !== undefined) mkdirSync(options.logDir, { recursive: true });
  const members: EtcdMember[] = [];
  try {
    for (const slot of slots) members.push(await spawnMember(plan, slot));
  } catch (error) {
    await Promise.all(members.map((member) => member.close()));
    await closeProxies(slots.slice(members.length));
    throw error;
  }
  return members;
}

/** Picks the direct ports and starts the fault proxies, one slot per member. */
async function allocateSlots(options: ResolvedOptions): Promise<Slot[]> {
  const reservation = await reservePorts(2 * options.size, host);
  const slots: Slot[] = [];
  try {
    // Proxies listen while the direct ports are still held, so they cannot land on one of them.
    for (let i = 0; i < options.size; i++) {
      const clientPort = reservation.ports[2 * i] ?? 0;
      const peerPort = reservation.ports[2 * i + 1] ?? 0;
      const name = options.size === 1 ? options.name : `${options.name}-${i}`;
      if (!options.faults) {
        slots.push({ name, clientPort, peerPort, clientProxy: undefined, peerProxy: undefined });
        continue;
      }
      const clientProxy = await createFaultProxy({ target: { host, port: clientPort } });
      slots.push({ name, clientPort, peerPort, clientProxy, peerProxy: undefined });
      const peerProxy = await createFaultProxy({
        target: { host, port: peerPort },
        classify: etcdPeerSender,
      });
      slots[i] = { name, clientPort, peerPort, clientProxy, peerProxy };
    }
    return slots;
  } catch (error) {
    await closeProxies(slots);
    throw error;
  } finally {
    await reservation.release();
  }
}

function closeProxies(slots: Slot[]): Promise<unknown> {
  return Promise.all(slots.flatMap((slot) => [slot.clientProxy?.close(), slot.peerProxy?.close()]));
}

function advertisedPeerUrl(slot: Slot): string {
  return `http://${host}:${slot.peerProxy?.port ?? slot.peerPort}`;
}

async function spawnMember(plan: Plan, slot: Slot): Promise<EtcdMember> {
  const { options, scheme, certificates } = plan;
  const dataDir = await mkdtemp(join(options.dataDirRoot, `etcd-connect-${slot.name}-`));
  const directClientUrl = `${scheme}://${host}:${slot.clientPort}`;
  const clientUrl =
    slot.clientProxy === undefined ? directClientUrl : `${scheme}://${host}:${slot.clientProxy.port}`;
  const directPeerUrl = `http://${host}:${slot.peerPort}`;
  const peerUrl = advertisedPeerUrl(slot);
  const optional = (flag: string, value: number | undefined) =>
    value === undefined ? [] : [`${flag}=${value}`];
  const args = (clusterState: "new" | "existing") => [
    `--name=${slot.name}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${directClientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${directPeerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${plan.initialCluster}`,
    `--initial-cluster-state=${clusterState}`,
    `--initial-cluster-token=${plan.token}`,
    `--heartbeat-interval=${options.heartbeatIntervalMs}`,
    `--election-timeout=${options.electionTimeoutMs}`,
    "--logger=zap",
    "--log-outputs=stderr",
    `--log-level=${options.logLevel}`,
    ...tlsArgs(options, certificates),
    ...optional("--auth-token-ttl", options.authTokenTtlSeconds),
    ...optional("--quota-backend-bytes", options.quotaBackendBytes),
    ...options.extraArgs,
  ];
  return new EtcdMember({
    name: slot.name,
    bin: options.bin,
    dataDir,
    host,
    clientPort: slot.clientPort,
    peerPort: slot.peerPort,
    clientUrl,
    directClientUrl,
    peerUrl,
    directPeerUrl,
    args,
    clientTls: plan.clientTls,
    clientProxy: slot.clientProxy,
    peerProxy: slot.peerProxy,
    certificates,
    logFile: options.logDir === undefined ? undefined : join(options.logDir, `${slot.name}.log`),
    logLines: options.logLines,
    startupTimeoutMs: options.startupTimeoutMs,
    onClose: plan.onClose,
  });
}

function tlsArgs(options: ResolvedOptions, certificates: TestCertificates | undefined): string[] {
  if (options.tls === undefined || certificates === undefined) return [];
  const args = [`--cert-file=${certificates.server.certPath}`, `--key-file=${certificates.server.keyPath}`];
  if (options.tls.clientCertAuth)
    args.push("--client-cert-auth", `--trusted-ca-file=${certificates.ca.certPath}`);
  return args;
}

function clientTlsOf(
  options: ResolvedOptions,
  certificates: TestCertificates | undefined,
): ClientTls | undefined {
  if (options.tls === undefined || certificates === undefined) return undefined;
  if (!options.tls.clientCertAuth) return { ca: certificates.ca.cert };
  return { ca: certificates.ca.cert, cert: certificates.client.cert, key: certificates.client.key };
}

async function waitAllHealthy(members: EtcdMember[], timeoutMs: number): Promise<void> {
  const controller = new AbortController();
  const healthy = new Set<EtcdMember>();
  const failures: unknown[] = [];
  await Promise.all(
    members.map(async (member) => {
      try {
        await member.waitHealthy({ timeoutMs, signal: controller.signal });
        healthy.add(member);
      } catch (error) {
        // The first real failure stops the others; aborted waits are not failures of their own.
        if (!controller.signal.aborted) failures.push(error);
        controller.abort();
      }
    }),
  );
  if (failures.length === 0) return;
  const logs: Record<string, string> = {};
  for (const member of members) if (!healthy.has(member)) logs[member.name] = member.logTail(40);
  const first = failures[0];
  const reason = first instanceof EtcdStartError ? first.message.split("\n")[0] : String(first);
  throw new EtcdStartError(`etcd did not start: ${reason}`, logs, { cause: first });
}

/** Closes members in parallel and then the shared resources. */
export async function closeAll(launched: Launched): Promise<void> {
  await Promise.all(launched.members.map((member) => member.close()));
  await launched.cleanup();
}
