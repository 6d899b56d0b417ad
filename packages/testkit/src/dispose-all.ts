/**
 * Disposes `items` one after another in the given order (pass them reversed for
 * "last started, first stopped"), even when some fail; then rethrows the first failure.
 */
export async function disposeAll(items: readonly AsyncDisposable[]): Promise<void> {
  const errors: unknown[] = [];
  for (const item of items) {
    try {
      await item[Symbol.asyncDispose]();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} disposals failed`);
}
