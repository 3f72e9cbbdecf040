// The card viewer: fires a CDS Hooks request at this service over its real endpoints and
// renders the cards the way an EHR would (CDS Hooks 2.0 "Card Attributes"), with the
// evaluation trace beside each card and real feedback (CDS Hooks 2.0 "Feedback").
// Every text from a request, a card or a trace is set with textContent (or rendered by
// markdown.js, which does the same): nothing from the service is parsed as HTML.
'use strict';

const state = {
    config: null,
    services: [],
    scenarios: [],
};

const indicator_labels = {
    critical: { icon: '\u2716', text: 'Critical' },
    warning: { icon: '\u26A0', text: 'Warning' },
    info: { icon: '\u2139', text: 'Info' },
};

// A card viewer call: marked so that the service allows explain and compare for it
// (README "Card viewer"), authenticated with the token when one is given.
function viewer_headers(json) {
    const headers = { 'X-Card-Viewer': '1' };
    if (json) headers['Content-Type'] = 'application/json';
    const token = document.getElementById('token').value.trim();
    if (token) headers.Authorization = 'Bearer ' + token;
    return headers;
}

function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
        if (name === 'class') node.className = value;
        else if (name === 'text') node.textContent = value;
        else node.setAttribute(name, value);
    }
    for (const child of children) {
        if (child === null || child === undefined) continue;
        node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
}

function show_error(message) {
    const box = document.getElementById('error');
    box.textContent = message;
    box.hidden = !message;
}

// An OperationOutcome (or any error body) as one readable line.
function describe_failure(status, body) {
    try {
        const outcome = JSON.parse(body);
        const issues = (outcome.issue || []).map((issue) => {
            const where = issue.expression && issue.expression.length ? ' (at ' + issue.expression.join(', ') + ')' : '';
            return (issue.diagnostics || (issue.details && issue.details.text) || issue.code) + where;
        });
        if (issues.length) return 'The service answered ' + status + ': ' + issues.join('; ');
    } catch (ignored) {
        // not JSON: fall through to the status alone
    }
    if (status === 401) return 'The service answered 401: a valid bearer token is required.';
    return 'The service answered ' + status + '.';
}

// ---- loading -------------------------------------------------------------------------

async function load_json(path, headers) {
    const response = await fetch(path, { headers: headers || {} });
    if (!response.ok) throw new Error(describe_failure(response.status, await response.text()));
    return response.json();
}

function scenario_group(scenario) {
    const hook = scenario.request && scenario.request.hook ? scenario.request.hook : 'other';
    // Scenario names are outcome_topic_point (fixtures/scenarios/README.md).
    const parts = scenario.id.split('_');
    const topics = { pv: 'patient-view rules', os: 'order-select rules', sign: 'order-sign rules' };
    const topic = topics[parts[1]] || parts[1];
    return hook + ' \u2014 ' + topic + ' (' + parts[0] + ')';
}

function fill_scenarios() {
    const select = document.getElementById('scenario');
    const groups = new Map();
    for (const [index, scenario] of state.scenarios.entries()) {
        const name = scenario_group(scenario);
        if (!groups.has(name)) groups.set(name, []);
        groups.get(name).push(index);
    }
    for (const name of [...groups.keys()].sort()) {
        const group = element('optgroup', { label: name });
        for (const index of groups.get(name)) {
            group.appendChild(element('option', { value: String(index), text: state.scenarios[index].id }));
        }
        select.appendChild(group);
    }
}

function fill_services() {
    const select = document.getElementById('service');
    select.replaceChildren();
    for (const service of state.services) {
        select.appendChild(element('option', { value: service.id, text: service.id + ' (' + service.hook + ')' }));
    }
}

function describe_server() {
    const config = state.config;
    const parts = [];
    if (config.ruleSet) parts.push('Rule set ' + config.ruleSet.id + ' ' + config.ruleSet.version);
    parts.push(config.feedbackStored ? 'feedback is stored' : 'feedback is counted only (no --feedback-db)');
    document.getElementById('server-info').textContent = parts.join('; ') + '.';
    document.getElementById('evaluation-time').textContent = config.fixedNow
        ? 'Fixed by the server at ' + config.fixedNow + ' (serve --now).'
        : 'The time of arrival. This server was not started with --now, so the page cannot set it; ' +
          'the bundled scenarios are dated around 2026-03-10T09:00:00Z.';
    document.getElementById('token-field').hidden = !config.authentication;
    const compare = document.getElementById('compare');
    for (const rules of config.compareRules) {
        compare.appendChild(element('option', {
            value: rules.name, text: rules.name + ' (' + rules.ruleSetId + ' ' + rules.ruleSetVersion + ')',
        }));
    }
    document.getElementById('compare-field').hidden = config.compareRules.length === 0;
}

function choose_scenario() {
    const value = document.getElementById('scenario').value;
    const description = document.getElementById('scenario-description');
    if (value === '') {
        description.textContent = '';
        return;
    }
    const scenario = state.scenarios[Number(value)];
    description.textContent = (scenario.expected && scenario.expected.description) || '';
    document.getElementById('request-json').value = JSON.stringify(scenario.request, null, 2);
    select_service_for_hook(scenario.request.hook);
}

function select_service_for_hook(hook) {
    const service = state.services.find((s) => s.hook === hook);
    if (service) document.getElementById('service').value = service.id;
}

async function load_upload(event) {
    const file = event.target.files[0];
    if (!file) return;
    document.getElementById('scenario').value = '';
    document.getElementById('scenario-description').textContent = 'Uploaded: ' + file.name;
    document.getElementById('request-json').value = await file.text();
}

// ---- firing --------------------------------------------------------------------------

async function call_service(service_id, body, rules_name) {
    let path = '/cds-services/' + encodeURIComponent(service_id) + '?explain=true';
    if (rules_name) path += '&rules=' + encodeURIComponent(rules_name);
    const response = await fetch(path, { method: 'POST', headers: viewer_headers(true), body });
    const text = await response.text();
    if (!response.ok) throw new Error(describe_failure(response.status, text));
    return JSON.parse(text);
}

async function fire(event) {
    event.preventDefault();
    show_error('');
    const text = document.getElementById('request-json').value;
    let request;
    try {
        request = JSON.parse(text);
    } catch (error) {
        show_error('The request is not valid JSON: ' + error.message);
        return;
    }
    if (request === null || typeof request !== 'object' || Array.isArray(request)) {
        show_error('The request must be a JSON object (a CDS Hooks request).');
        return;
    }
    if (typeof request.hook === 'string') select_service_for_hook(request.hook);
    const service_id = document.getElementById('service').value;
    const compare = document.getElementById('compare').value;
    const status = document.getElementById('cards-status');
    status.textContent = 'Calling ' + service_id + '\u2026';
    try {
        const runs = [{ label: 'Loaded rules', rules: '', response: await call_service(service_id, text, '') }];
        if (compare) runs.push({ label: compare, rules: compare, response: await call_service(service_id, text, compare) });
        render_runs(service_id, runs);
        const counts = runs.map((r) => r.label + ': ' + r.response.cards.length + ' card(s)');
        status.textContent = counts.join('; ') + '.';
    } catch (error) {
        status.textContent = 'No cards.';
        document.getElementById('columns').replaceChildren();
        show_error(error.message);
    }
}

// ---- rendering -----------------------------------------------------------------------

function coding_text(concept) {
    if (!concept) return '';
    if (concept.text) return concept.text;
    const coding = (concept.coding || []).find((c) => c.display) || (concept.coding || [])[0];
    return coding ? coding.display || coding.code || '' : '';
}

function quantity_text(q) {
    return q && q.value !== undefined ? q.value + ' ' + (q.unit || q.code || '') : '';
}

function timing_text(timing) {
    if (!timing) return '';
    if (timing.code) return coding_text(timing.code);
    const r = timing.repeat || {};
    const parts = [];
    if (r.frequency && r.period) parts.push(r.frequency + ' \u00d7 every ' + r.period + ' ' + (r.periodUnit || ''));
    if (r.boundsDuration) parts.push('for ' + quantity_text(r.boundsDuration));
    if (r.duration) parts.push('over ' + r.duration + ' ' + (r.durationUnit || ''));
    if (r.count) parts.push(r.count + ' time(s)');
    return parts.join(', ');
}

// What a suggested resource would create, as label/value rows a clinician can read.
function resource_rows(resource) {
    const rows = [];
    const add = (label, value) => { if (value) rows.push([label, String(value)]); };
    if (!resource) return rows;
    add('Resource', resource.resourceType);
    if (resource.resourceType === 'MedicationRequest') {
        add('Medication', coding_text(resource.medicationCodeableConcept) ||
            (resource.medicationReference && (resource.medicationReference.display || resource.medicationReference.reference)));
        add('Intent', resource.intent);
        for (const dosage of resource.dosageInstruction || []) {
            add('Instructions', dosage.text);
            add('Route', coding_text(dosage.route));
            for (const dr of dosage.doseAndRate || []) {
                add('Dose', quantity_text(dr.doseQuantity));
                add('Rate', quantity_text(dr.rateQuantity) ||
                    (dr.rateRatio ? quantity_text(dr.rateRatio.numerator) + ' per ' + quantity_text(dr.rateRatio.denominator) : ''));
            }
            add('Timing', timing_text(dosage.timing));
        }
    } else if (resource.resourceType === 'ServiceRequest') {
        add('Order', coding_text(resource.code));
        add('When', resource.occurrenceDateTime ||
            (resource.occurrencePeriod && [resource.occurrencePeriod.start, resource.occurrencePeriod.end].filter(Boolean).join(' to ')) ||
            timing_text(resource.occurrenceTiming));
        add('Priority', resource.priority);
    } else {
        add('Summary', coding_text(resource.code) || resource.id);
    }
    (resource.note || []).forEach((note) => add('Note', note.text));
    return rows;
}

function render_action(action) {
    const rows = resource_rows(action.resource);
    const list = element('dl', { class: 'resource' });
    for (const [label, value] of rows) {
        list.appendChild(element('dt', { text: label }));
        list.appendChild(element('dd', { text: value }));
    }
    return element('div', { class: 'action' },
        element('p', { text: (action.type || '') + (action.description ? ': ' + action.description : '') }), list);
}

async function send_feedback(service_id, entry, status_node, controls) {
    entry.outcomeTimestamp = new Date().toISOString();
    status_node.textContent = 'Sending feedback\u2026';
    try {
        const response = await fetch('/cds-services/' + encodeURIComponent(service_id) + '/feedback', {
            method: 'POST', headers: viewer_headers(true), body: JSON.stringify({ feedback: [entry] }),
        });
        if (!response.ok) throw new Error(describe_failure(response.status, await response.text()));
        status_node.textContent = (entry.outcome === 'accepted' ? 'Accepted' : 'Dismissed') +
            (state.config.feedbackStored ? ': feedback stored by the service.' : ': feedback accepted (not stored: no --feedback-db).');
        controls.forEach((c) => { c.disabled = true; });
    } catch (error) {
        status_node.textContent = 'Feedback failed: ' + error.message;
    }
}

function render_suggestions(card, service_id, status_node, controls) {
    const section = element('div', { class: 'suggestions' }, element('h4', { text: 'Suggestions' }));
    for (const suggestion of card.suggestions || []) {
        const button = element('button', { type: 'button', class: 'accept', text: 'Accept: ' + suggestion.label });
        controls.push(button);
        button.addEventListener('click', () => send_feedback(service_id, {
            card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: suggestion.uuid }],
        }, status_node, controls));
        const item = element('div', { class: 'suggestion' },
            element('p', { class: 'suggestion-label', text: suggestion.label + (suggestion.isRecommended ? ' (recommended)' : '') }));
        (suggestion.actions || []).forEach((action) => item.appendChild(render_action(action)));
        item.appendChild(button);
        section.appendChild(item);
    }
    return section;
}

function render_dismiss(card, service_id, status_node, controls) {
    const reasons = card.overrideReasons || [];
    const id = 'reason-' + card.uuid;
    const select = element('select', { id });
    reasons.forEach((r, i) => select.appendChild(element('option', { value: String(i), text: r.display || r.code })));
    if (reasons.length === 0) select.appendChild(element('option', { value: '', text: '(no reason offered)' }));
    const comment = element('input', { type: 'text', id: 'comment-' + card.uuid });
    const button = element('button', { type: 'button', class: 'dismiss', text: 'Dismiss' });
    controls.push(button, select, comment);
    button.addEventListener('click', () => {
        const entry = { card: card.uuid, outcome: 'overridden' };
        const reason = reasons[Number(select.value)];
        if (reason || comment.value) {
            entry.overrideReason = {};
            if (reason) entry.overrideReason.reason = reason;
            if (comment.value) entry.overrideReason.userComment = comment.value;
        }
        send_feedback(service_id, entry, status_node, controls);
    });
    return element('div', { class: 'dismiss-row' },
        element('label', { for: id, text: 'Override reason' }), select,
        element('label', { for: 'comment-' + card.uuid, text: 'Comment' }), comment, button);
}

// One compared condition: "serum magnesium below the low threshold: 1.1 < 1.8 mg/dL".
function comparison_text(c) {
    let text = c.what;
    if (c.operator) {
        const unit = c.unit ? ' ' + c.unit : '';
        text += ': ' + (c.value === undefined ? 'unknown' : c.value + unit) + ' ' + c.operator + ' ' + c.threshold + unit;
    }
    if (c.note) text += ' (' + c.note + ')';
    return text;
}

function render_trace(entries) {
    const list = element('ol', { class: 'trace' });
    for (const entry of entries) {
        const decision = entry.decision ? entry.decision + (entry.reason ? ' (' + entry.reason + ')' : '') : '';
        const item = element('li', { class: entry.decision ? 'trace-' + entry.decision : '' },
            element('span', { class: 'trace-rule', text: entry.rule }), ' ',
            element('span', { class: 'trace-subject', text: entry.subject }), ' ',
            element('span', { class: 'trace-decision', text: decision }), ' \u2014 ',
            element('span', { text: entry.message }));
        if (entry.compared && entry.compared.length) {
            const compared = element('ul', { class: 'trace-compared' });
            for (const c of entry.compared) {
                compared.appendChild(element('li', { class: c.holds ? 'met' : 'not-met' },
                    (c.holds ? '\u2713 met: ' : '\u2717 not met: ') + comparison_text(c)));
            }
            item.appendChild(compared);
        }
        list.appendChild(item);
    }
    if (entries.length === 0) list.appendChild(element('li', { text: 'The rules recorded no decisions.' }));
    return list;
}

function render_card(card, service_id, explain) {
    const label = indicator_labels[card.indicator] || { icon: '?', text: card.indicator };
    const status_node = element('p', { class: 'feedback-status', role: 'status' });
    const controls = [];
    const article = element('article', { class: 'card indicator-' + card.indicator, 'aria-label': label.text + ' card' },
        element('p', { class: 'indicator' },
            element('span', { class: 'icon', 'aria-hidden': 'true', text: label.icon }), ' ' + label.text),
        element('h3', { class: 'summary', text: card.summary }));
    if (card.detail) article.appendChild(element('div', { class: 'detail' }, render_markdown(card.detail)));
    if (card.source) {
        const source = element('p', { class: 'source' }, 'Source: ');
        const safe = card.source.url && /^https?:\/\//i.test(card.source.url);
        source.appendChild(safe ? element('a', { href: card.source.url, rel: 'noopener noreferrer', target: '_blank', text: card.source.label })
            : document.createTextNode(card.source.label || ''));
        article.appendChild(source);
    }
    if ((card.suggestions || []).length) article.appendChild(render_suggestions(card, service_id, status_node, controls));
    if ((card.links || []).length) {
        const links = element('ul', { class: 'links' });
        for (const link of card.links) {
            const safe = /^https?:\/\//i.test(link.url || '');
            links.appendChild(element('li', {}, safe
                ? element('a', { href: link.url, rel: 'noopener noreferrer', target: '_blank', text: link.label })
                : document.createTextNode(link.label + ' (' + (link.type || 'link') + ')')));
        }
        article.appendChild(element('div', {}, element('h4', { text: 'Links' }), links));
    }
    article.appendChild(render_dismiss(card, service_id, status_node, controls));
    article.appendChild(status_node);
    if (explain) article.appendChild(render_card_explain(card, explain));
    return article;
}

// The trace beside a card: the decisions of the card's rule (Card.source.topic names it)
// first, then everything else the evaluation decided (findings, renal band, other rules).
function render_card_explain(card, explain) {
    const rule = card.source && card.source.topic && card.source.topic.code;
    const own = rule ? explain.entries.filter((e) => e.rule === rule) : [];
    const rest = rule ? explain.entries.filter((e) => e.rule !== rule) : explain.entries;
    const details = element('details', { class: 'explain' },
        element('summary', { text: 'Why this card (rule set ' + explain.ruleSetId + ' ' + explain.ruleSetVersion + ')' }));
    if (rule) {
        details.appendChild(element('h4', { text: 'Rule ' + rule }));
        details.appendChild(render_trace(own));
    }
    details.appendChild(element('h4', { text: rule ? 'Findings and other decisions' : 'All decisions' }));
    details.appendChild(render_trace(rest));
    return details;
}

// Cards compared by what a clinician sees: indicator, summary, detail and suggestions.
function card_signature(card) {
    return JSON.stringify([card.indicator, card.summary, card.detail,
        (card.suggestions || []).map((s) => [s.label, (s.actions || []).map((a) => resource_rows(a.resource))])]);
}

function render_runs(service_id, runs) {
    const columns = document.getElementById('columns');
    columns.replaceChildren();
    const signatures = runs.map((run) => new Set(run.response.cards.map(card_signature)));
    runs.forEach((run, index) => {
        const column = element('section', { class: 'column', 'aria-label': 'Cards under ' + run.label },
            element('h3', { class: 'column-title', text: run.label }));
        if (run.response.cards.length === 0) column.appendChild(element('p', { class: 'muted', text: 'No cards.' }));
        for (const card of run.response.cards) {
            const node = render_card(card, service_id, run.response.explain);
            if (runs.length > 1) {
                const others = signatures.filter((_, i) => i !== index);
                if (others.some((set) => !set.has(card_signature(card)))) {
                    node.classList.add('differs');
                    node.insertBefore(element('p', { class: 'difference', text: '\u2260 Differs from the other rule set' }), node.firstChild);
                }
            }
            column.appendChild(node);
        }
        if (run.response.explain && run.response.cards.length === 0) {
            column.appendChild(element('details', { class: 'explain' },
                element('summary', { text: 'Why no card' }), render_trace(run.response.explain.entries)));
        }
        columns.appendChild(column);
    });
    columns.classList.toggle('compare', runs.length > 1);
}

async function start() {
    document.getElementById('request-form').addEventListener('submit', fire);
    document.getElementById('scenario').addEventListener('change', choose_scenario);
    document.getElementById('request-file').addEventListener('change', load_upload);
    document.getElementById('token').addEventListener('change', () => {
        show_error('');
        load_services().catch((error) => show_error('The services could not be listed: ' + error.message));
    });
    try {
        state.config = await load_json('/ui/config.json');
        describe_server();
        state.scenarios = (await load_json('/ui/scenarios.json')).scenarios;
        fill_scenarios();
        await load_services();
    } catch (error) {
        show_error('The page could not load: ' + error.message);
    }
}

// Discovery may need the token (serve --protect-discovery): loaded again when it changes.
async function load_services() {
    state.services = (await load_json('/cds-services', viewer_headers(false))).services;
    fill_services();
}

start();
