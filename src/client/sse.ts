/**
 * Reads a server-sent event stream (RFC 8895 / WHATWG) with eventsource-parser, a maintained
 * parser: comments (the Core's heartbeats) are skipped, multi-line data and ids are handled.
 */
import { EventSourceParserStream, type EventSourceMessage } from "eventsource-parser/stream";

export type { EventSourceMessage } from "eventsource-parser/stream";

export async function* readEvents(response: { body: ReadableStream<Uint8Array> | null }): AsyncGenerator<EventSourceMessage> {
  if (!response.body) return;
  const events = (response.body as ReadableStream<Uint8Array<ArrayBuffer>>).pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  const reader = events.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
