/** Default time to wait for a Docker engine to answer. */
export const DOCKER_PROBE_TIMEOUT_MS = 3_000;

/** Options of {@link dockerAvailable}; `probe` replaces the testcontainers check (tests). */
export interface DockerAvailableOptions {
  timeoutMs?: number;
  probe?: () => Promise<unknown>;
}

let cached: Promise<boolean> | undefined;

/**
 * Whether a Docker-compatible engine answers, asked through testcontainers'
 * `getContainerRuntimeClient()`. Never rejects: errors and no answer within `timeoutMs`
 * mean `false`. The default probe's answer is cached for the life of the process.
 */
export function dockerAvailable(options: DockerAvailableOptions = {}): Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? DOCKER_PROBE_TIMEOUT_MS;
  if (options.probe) return answersWithin(options.probe, timeoutMs);
  cached ??= answersWithin(probeTestcontainers, timeoutMs);
  return cached;
}

async function probeTestcontainers(): Promise<unknown> {
  // Loaded lazily: testcontainers pulls in dockerode, which most runs never need.
  const { getContainerRuntimeClient } = await import('testcontainers');
  return getContainerRuntimeClient();
}

async function answersWithin(probe: () => Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  try {
    const answered = Promise.resolve()
      .then(probe)
      .then(
        () => true,
        () => false,
      );
    return await Promise.race([answered, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
