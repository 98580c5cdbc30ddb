// The outbox console's page script. Every value shown comes from events and
// the table: untrusted. It is only ever set as textContent, never as HTML.
const token = document.querySelector('meta[name="outbox-console-token"]')?.getAttribute('content') ?? '';
const MAX_ROWS = 300;
const MAX_AGGREGATES = 100;

/** eventId -> what the page knows of it. */
const events = new Map();
/** "<type> <id>" -> Map(sequence -> Set(eventId)), and the time it last moved. */
const aggregates = new Map();
let selectedPoison = null;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function time(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString().slice(11, 23);
}

function duration(ms) {
  if (typeof ms !== 'number') return '';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function detailOf(entry) {
  const again = entry.count > 1 ? ` (${entry.count}×: duplicate)` : '';
  switch (entry.stage) {
    case 'committed':
      return [entry.correlationId ? `request ${entry.correlationId}` : '', entry.data ?? '']
        .filter(Boolean)
        .join(' · ');
    case 'published':
      return `${entry.by === 'republish' ? 'republished from the console' : 'by the relay'}${
        entry.latencyMs === undefined ? '' : `, ${duration(entry.latencyMs)} after commit`
      }${again}`;
    case 'parked':
      return `poison: ${entry.reason ?? ''}`;
    case 'pending':
      return 'still pending: the stream delivers it again';
    case 'delivered':
      return `→ ${entry.consumer}${entry.latencyMs === undefined ? '' : `, ${duration(entry.latencyMs)} after commit`}${again}`;
    case 'retried':
      return `→ ${entry.consumer} failed (attempt ${entry.attempt}${entry.maxAttempts ? ` of ${entry.maxAttempts}` : ''}): ${entry.reason ?? ''}`;
    case 'dead-lettered':
      return `→ ${entry.consumer} failed its last attempt: to the dead-letter queue`;
    default:
      return '';
  }
}

function remember(entry) {
  let known = events.get(entry.eventId);
  if (!known) {
    known = { entry, published: 0, parked: false, consumers: new Map() };
    events.set(entry.eventId, known);
  }
  for (const field of ['eventType', 'aggregateType', 'aggregateId', 'sequence', 'occurredAt']) {
    if (entry[field] !== undefined) known.entry = { ...known.entry, [field]: entry[field] };
  }
  if (entry.stage === 'published') {
    known.published += 1;
    known.parked = false;
  }
  if (entry.stage === 'parked') known.parked = true;
  if (entry.consumer && entry.stage === 'delivered') {
    known.consumers.set(entry.consumer, (known.consumers.get(entry.consumer) ?? 0) + 1);
  }
  if (known.entry.aggregateId !== undefined && typeof known.entry.sequence === 'number') {
    const name = `${known.entry.aggregateType ?? '?'} ${known.entry.aggregateId}`;
    let aggregate = aggregates.get(name);
    if (!aggregate) {
      aggregate = { sequences: new Map(), movedAt: 0 };
      aggregates.set(name, aggregate);
    }
    let ids = aggregate.sequences.get(known.entry.sequence);
    if (!ids) {
      ids = new Set();
      aggregate.sequences.set(known.entry.sequence, ids);
    }
    ids.add(entry.eventId);
    aggregate.movedAt = entry.id;
  }
}

function streamRow(entry) {
  const row = el('tr');
  row.dataset.eventId = entry.eventId;
  row.dataset.stage = entry.stage;
  row.append(
    el('td', 'time', time(entry.at)),
    el('td', `stage stage-${entry.stage}`, entry.stage),
    el('td', '', entry.eventType ?? ''),
    el('td', '', entry.aggregateId ? `${entry.aggregateType ?? ''} ${entry.aggregateId}` : entry.eventId),
    el('td', '', entry.sequence ?? ''),
    el('td', 'detail', detailOf(entry)),
  );
  return row;
}

function addToStream(entry) {
  const body = $('stream').tBodies[0];
  body.prepend(streamRow(entry));
  while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
}

function chipFor(sequence, ids) {
  if (!ids) {
    const gap = el('span', 'chip gap', `#${sequence} not seen`);
    gap.title = 'no event with this sequence number was seen: a gap';
    return gap;
  }
  const chip = el('span', 'chip');
  const [first] = ids;
  const known = events.get(first);
  const state = known?.parked
    ? 'parked'
    : known && known.consumers.size > 0
      ? 'delivered'
      : known && known.published > 0
        ? 'published'
        : 'committed';
  chip.classList.add(state);
  chip.dataset.sequence = String(sequence);
  chip.dataset.state = state;
  const consumers = known ? [...known.consumers.keys()].join(', ') : '';
  chip.append(el('span', '', `#${sequence} ${known?.entry.eventType ?? ''}`));
  chip.title = `${state}${consumers ? `; delivered to ${consumers}` : ''}`;
  const copies = Math.max(ids.size, known?.published ?? 0, ...(known ? [...known.consumers.values()] : [0]));
  if (copies > 1) chip.append(el('span', 'dup', `×${copies}`));
  return chip;
}

function renderAggregates() {
  const container = $('aggregates');
  const sorted = [...aggregates.entries()]
    .sort((a, b) => b[1].movedAt - a[1].movedAt)
    .slice(0, MAX_AGGREGATES);
  const rows = sorted.map(([name, aggregate]) => {
    const row = el('div', 'aggregate');
    row.dataset.aggregate = name;
    row.append(el('span', 'aggregate-name', name));
    const max = Math.max(...aggregate.sequences.keys());
    const min = Math.min(1, ...aggregate.sequences.keys());
    for (let sequence = min; sequence <= max; sequence += 1) {
      row.append(chipFor(sequence, aggregate.sequences.get(sequence)));
    }
    return row;
  });
  container.replaceChildren(...rows);
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderAggregates();
  });
}

function onEntry(entry) {
  remember(entry);
  addToStream(entry);
  scheduleRender();
}

function setCount(id, value) {
  const node = $(id);
  node.textContent = value === null || value === undefined ? '?' : String(value);
  node.classList.toggle('alert', typeof value === 'number' && value > 0 && id !== 'pending-count');
}

function renderStatus(status) {
  setCount('pending-count', status.pending);
  setCount('poison-count', status.poison.length);
  const queues = status.queues.map((queue) => {
    const box = el('div', 'queue');
    box.dataset.queue = queue.label;
    box.append(el('span', 'label', queue.label));
    const value = el('span', 'value', queue.messages ?? '?');
    if (typeof queue.messages === 'number' && queue.messages > 0) value.classList.add('alert');
    box.append(value);
    return box;
  });
  $('queues').replaceChildren(...queues);
  const error = $('status-error');
  error.hidden = !status.error;
  error.textContent = status.error ?? '';

  const body = $('poison').tBodies[0];
  const ids = new Set(status.poison.map((event) => event.eventId));
  if (selectedPoison && !ids.has(selectedPoison)) selectedPoison = null;
  body.replaceChildren(
    ...status.poison.map((event) => {
      const row = el('tr');
      row.dataset.eventId = event.eventId ?? '';
      const pick = el('td');
      const radio = el('input');
      radio.type = 'radio';
      radio.name = 'poison';
      radio.value = event.eventId ?? '';
      radio.disabled = !event.eventId;
      radio.checked = event.eventId !== null && event.eventId === selectedPoison;
      radio.setAttribute('aria-label', `select ${event.eventId ?? 'event'}`);
      radio.addEventListener('change', () => {
        selectedPoison = radio.value;
        $('republish').disabled = false;
      });
      pick.append(radio);
      row.append(
        pick,
        el('td', '', `${event.eventType ?? '?'} ${event.eventId ?? ''}`),
        el('td', '', `${event.aggregateType ?? ''} ${event.aggregateId ?? ''}`),
        el('td', '', event.sequence ?? ''),
        el('td', 'time', event.failedAt ?? ''),
        el('td', 'reason', event.failureReason ?? ''),
      );
      return row;
    }),
  );
  $('poison-empty').hidden = status.poison.length > 0;
  $('republish').disabled = selectedPoison === null;
}

async function republishSelected() {
  const eventId = selectedPoison;
  if (!eventId) return;
  const result = $('republish-result');
  $('republish').disabled = true;
  result.textContent = `republishing ${eventId}…`;
  try {
    const response = await fetch('/api/republish', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-outbox-console-token': token },
      body: JSON.stringify({ eventId }),
    });
    const body = await response.json().catch(() => ({}));
    result.textContent = response.ok
      ? `${eventId}: ${body.outcome}${body.warnings?.length ? ` (${body.warnings.join('; ')})` : ''}`
      : `${eventId}: ${response.status} ${body.detail ?? response.statusText}`;
  } catch (error) {
    result.textContent = `${eventId}: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    $('republish').disabled = selectedPoison === null;
  }
}

function connect() {
  const connection = $('connection');
  const source = new EventSource('/events');
  source.addEventListener('open', () => {
    connection.textContent = 'live';
    connection.className = 'connection live';
  });
  source.addEventListener('error', () => {
    connection.textContent = 'disconnected: retrying';
    connection.className = 'connection lost';
  });
  source.addEventListener('snapshot', (message) => {
    events.clear();
    aggregates.clear();
    $('stream').tBodies[0].replaceChildren();
    for (const entry of JSON.parse(message.data).entries) onEntry(entry);
  });
  source.addEventListener('flow', (message) => onEntry(JSON.parse(message.data)));
  source.addEventListener('status', (message) => renderStatus(JSON.parse(message.data)));
}

$('republish').addEventListener('click', () => void republishSelected());
connect();
