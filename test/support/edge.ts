import { createEdge, type Edge, type EdgeOptions } from '@roomfabric/edge';
import { createJsonLogger } from '@roomfabric/edge';

export interface TestEdge {
  edge: Edge;
  url: string;
  port: number;
  [Symbol.asyncDispose](): Promise<void>;
}

/** An edge on a free port, quiet unless RF_LOG_LEVEL says otherwise; dispose with `await using`. */
export async function startTestEdge(options: EdgeOptions = {}, port = 0): Promise<TestEdge> {
  const edge = createEdge({
    logger: createJsonLogger({
      level: (process.env.RF_LOG_LEVEL as 'debug' | undefined) ?? 'error',
    }),
    ...options,
  });
  const address = await edge.listen(port);
  return {
    edge,
    port: address.port,
    url: `ws://127.0.0.1:${address.port}${edge.path}`,
    [Symbol.asyncDispose]: () => edge.close(),
  };
}
