/** Counters of this node since it started; cheap to read, never reset. */
export interface EdgeCounters {
  connections: number;
  messagesIn: number;
  rejectedFrames: number;
  unhandledEvents: number;
  busOut: number;
  busIn: number;
  busMalformed: number;
  deliveries: number;
  volatileDrops: number;
  slowConsumerCloses: number;
  writes: number;
  backgroundErrors: number;
  raidMoves: number;
  rateLimited: number;
  /** History rooms whose live stream had a hole that the node filled from the history. */
  historyGapsFilled: number;
  /** Entries delivered by those fills. */
  historyGapEntries: number;
  /** Holes that could not be filled: the room's members were closed with 4004. */
  historyGapsLost: number;
  /** Connections refused by a cap: the node's, an address's (at the upgrade) or a user's. */
  connectionsRefused: number;
  /** Times a socket was not read for a while because its user or the node was over budget. */
  floodPauses: number;
}

export interface EdgeStats extends EdgeCounters {
  nodeId: string;
  sockets: number;
  rooms: number;
  /** Bus messages received per room subject (rooms this node was subscribed to). */
  busInByRoom: Record<string, number>;
  leaseReasserts: number;
  leaseFailures: number;
}

/** Every counter at zero. */
export function newCounters(): EdgeCounters {
  return {
    connections: 0,
    messagesIn: 0,
    rejectedFrames: 0,
    unhandledEvents: 0,
    busOut: 0,
    busIn: 0,
    busMalformed: 0,
    deliveries: 0,
    volatileDrops: 0,
    slowConsumerCloses: 0,
    writes: 0,
    backgroundErrors: 0,
    raidMoves: 0,
    rateLimited: 0,
    historyGapsFilled: 0,
    historyGapEntries: 0,
    historyGapsLost: 0,
    connectionsRefused: 0,
    floodPauses: 0,
  };
}
