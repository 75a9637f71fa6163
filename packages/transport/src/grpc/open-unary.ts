import type { Http2Connection } from "../http2/connection.js";
import type { Http2Request } from "../http2/session.js";
import type { UnaryExchange } from "./unary-exchange.js";

/**
 * Starts a unary exchange's stream on `connection`: at once on an open session (no promise), else
 * after dialling, and then only if the call is still wanted, so an aborted write never goes out.
 * `wentAway` names the failure of a session that closed between the dial and the open.
 */
export function openUnary<C>(
  connection: Http2Connection,
  request: Http2Request,
  exchange: UnaryExchange<C>,
  wentAway: () => unknown,
): void {
  const stream = connection.openStream(request, exchange);
  if (stream !== undefined) {
    exchange.attach(stream);
    return;
  }
  connection.connect().then(
    () => {
      if (exchange.settled) return;
      const opened = connection.openStream(request, exchange);
      if (opened !== undefined) exchange.attach(opened);
      else exchange.dialFailed(wentAway());
    },
    (error: unknown) => exchange.dialFailed(error),
  );
}
