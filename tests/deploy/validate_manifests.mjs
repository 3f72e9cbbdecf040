// Validates every object of a rendered Kustomize overlay (YAML, several documents) against the
// Kubernetes OpenAPI schemas that the `kubernetes-models` package carries, one class per
// apiVersion and kind. Usage: node validate_manifests.mjs RENDERED.yaml...
// Prints one line per object; exits 1 when any object is invalid or of an unknown kind.
// `node validate_manifests.mjs --json RENDERED.yaml` prints the objects as a JSON array instead
// (for test_deploy.py, which reads them without a YAML parser of its own).
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

async function modelFor(apiVersion, kind) {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
    const path = group === null ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
    const module = await import(path);
    return module[kind] ?? module.default;
}

if (process.argv[2] === "--json") {
    const documents = parseAllDocuments(readFileSync(process.argv[3], "utf8"));
    // process.exit() would cut a piped stdout short (node writes pipes asynchronously).
    writeFileSync(1, JSON.stringify(documents.map((d) => d.toJS()).filter((o) => o !== null)) + "\n");
} else {
    let failures = 0;
    for (const file of process.argv.slice(2)) {
        for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
            if (document.errors.length > 0) {
                console.log(`${file}: YAML error: ${document.errors[0].message}`);
                failures += 1;
                continue;
            }
            const object = document.toJS();
            if (object === null) continue;
            const label = `${file}: ${object.apiVersion} ${object.kind} ${object.metadata?.name}`;
            try {
                const Model = await modelFor(object.apiVersion, object.kind);
                new Model(object).validate();
                console.log(`${label}: valid`);
            } catch (error) {
                console.log(`${label}: INVALID: ${error.message}`);
                failures += 1;
            }
        }
    }
    process.exitCode = failures === 0 ? 0 : 1;
}
