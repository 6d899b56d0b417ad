/** Default bound of captured output per service: the last 256 KiB. */
export const DEFAULT_OUTPUT_LIMIT = 256 * 1024;

/**
 * The tail of a process's stdout+stderr, bounded so a chatty server in a long chaos run
 * cannot eat memory. Oldest text is dropped first.
 */
export class OutputBuffer {
  readonly #limit: number;
  #chunks: string[] = [];
  #length = 0;

  constructor(limit = DEFAULT_OUTPUT_LIMIT) {
    this.#limit = limit;
  }

  /** Appends text, dropping the oldest text beyond the limit. */
  append(text: string): void {
    this.#chunks.push(text);
    this.#length += text.length;
    while (this.#length > this.#limit && this.#chunks.length > 0) {
      const excess = this.#length - this.#limit;
      const first = this.#chunks[0] as string;
      if (first.length <= excess) {
        this.#chunks.shift();
        this.#length -= first.length;
      } else {
        this.#chunks[0] = first.slice(excess);
        this.#length -= excess;
      }
    }
  }

  /** Everything kept so far. */
  text(): string {
    if (this.#chunks.length > 1) this.#chunks = [this.#chunks.join('')];
    return this.#chunks[0] ?? '';
  }

  /** The last `chars` characters, for error messages. */
  tail(chars: number): string {
    const text = this.text();
    return text.length <= chars ? text : `...${text.slice(text.length - chars)}`;
  }
}
