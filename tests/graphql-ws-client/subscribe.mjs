// Subscribes to ATS taskEvents with the npm `graphql-ws` client, creates a
// task over HTTP, and exits 0 once the subscription delivers its event.
// Usage: node subscribe.mjs http://127.0.0.1:8080
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const title = `graphql-ws check ${Date.now()}`;
const timer = setTimeout(() => {
  console.error('timed out waiting for the event');
  process.exit(2);
}, 15000);

const client = createClient({
  url: base.replace(/^http/, 'ws') + '/graphql/ws',
  webSocketImpl: WebSocket,
  connectionParams: { 'X-Actor-Type': 'agent', 'X-Actor-ID': 'graphql-ws-client' },
});

const subscription = client.iterate({
  query: 'subscription { taskEvents(filter: {eventTypes: ["task.created"]}) { id type taskId task { title } } }',
});

const created = (async () => {
  // Give the server a moment to register the subscription, then write.
  await new Promise((r) => setTimeout(r, 300));
  const res = await fetch(base + '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-actor-type': 'agent', 'x-actor-id': 'graphql-ws-client' },
    body: JSON.stringify({ query: `mutation { createTask(input: {title: ${JSON.stringify(title)}}) { task { id } } }` }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data.createTask.task.id;
})();

for await (const result of subscription) {
  if (result.errors) {
    console.error(JSON.stringify(result.errors));
    process.exit(1);
  }
  const event = result.data.taskEvents;
  if (event.task?.title === title) {
    const id = await created;
    if (event.taskId !== id) {
      console.error(`event for task ${event.taskId}, expected ${id}`);
      process.exit(1);
    }
    console.log(`received ${event.type} for task ${id} (event ${event.id})`);
    clearTimeout(timer);
    await client.dispose();
    process.exit(0);
  }
}
