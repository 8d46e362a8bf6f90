/** A fetch that records each request and answers from a script, for the client's tests. */

export interface Recorded {
  method: string;
  url: string;
  headers: Headers;
  body: unknown;
}

export type Reply = Response | Error | ((request: Recorded) => Response | Error);

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function errorBody(status: number, code: string, message = code, requestId = "req_test"): Response {
  return json(status, { error: { code, message, request_id: requestId } });
}

/** Answers with `replies` in order (the last one again once they run out). */
export function fakeFetch(...replies: Reply[]) {
  const requests: Recorded[] = [];
  async function fetch(request: Request): Promise<Response> {
    const text = await request.text();
    const recorded: Recorded = {
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: text ? JSON.parse(text) : undefined,
    };
    requests.push(recorded);
    const next = replies[Math.min(requests.length - 1, replies.length - 1)];
    if (next === undefined) throw new Error("fakeFetch: no reply scripted");
    const reply = typeof next === "function" ? next(recorded) : next;
    if (reply instanceof Error) throw reply;
    return reply.clone();
  }
  return { fetch, requests };
}
