// One real 'abort' listener per signal, however many calls, watches and keepers wait on it. An
// application commonly passes one shutdown signal to everything; Node warns
// (MaxListenersExceededWarning) past 10 listeners on one EventTarget, and each listener is a
// closure the signal keeps. Here the signal holds one listener while anything waits, and none
// once nothing does.

interface Waiting {
  readonly listeners: Set<() => void>;
  readonly fire: () => void;
}

const waiting = new WeakMap<AbortSignal, Waiting>();

/**
 * Runs `listener` once when `signal` aborts; returns a function that stops waiting (call it when
 * the call ends). A signal already aborted is the caller's to check: the listener never runs for it.
 * Each registration needs a listener of its own (a new closure): the same function registered
 * twice on one signal is one entry.
 */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  let entry = waiting.get(signal);
  if (entry === undefined) {
    const listeners = new Set<() => void>();
    const fire = () => {
      waiting.delete(signal);
      for (const waiter of listeners) waiter();
    };
    entry = { listeners, fire };
    waiting.set(signal, entry);
    signal.addEventListener("abort", fire, { once: true });
  }
  const own = entry;
  own.listeners.add(listener);
  return () => {
    if (!own.listeners.delete(listener) || own.listeners.size > 0) return;
    // The last waiter left: the signal keeps nothing of ours.
    signal.removeEventListener("abort", own.fire);
    if (waiting.get(signal) === own) waiting.delete(signal);
  };
}
