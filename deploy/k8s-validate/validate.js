// Validates Kubernetes manifests (multi-document YAML files, e.g. kustomize's output) against the
// Kubernetes API's OpenAPI schemas, offline: kubernetes-models (npm) carries the schemas of every
// built-in kind compiled into validators (types, required fields, enums, formats). A kind it does
// not know is an error, as is a document without apiVersion, kind or metadata.name.
// Usage: node validate.js FILE...   (scripts/k8s-validate.sh installs the packages and runs it)
"use strict";
const fs = require("fs");
const yaml = require("js-yaml");

let errors = 0;
for (const file of process.argv.slice(2)) {
  const docs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter((d) => d != null);
  if (docs.length === 0) {
    console.error(`${file}: no documents`);
    errors++;
  }
  for (const doc of docs) {
    const where = `${file}: ${doc.kind || "?"} ${(doc.metadata && doc.metadata.name) || "?"}`;
    if (!doc.apiVersion || !doc.kind || !doc.metadata || !doc.metadata.name) {
      console.error(`${where}: needs apiVersion, kind and metadata.name`);
      errors++;
      continue;
    }
    // "apps/v1" -> kubernetes-models/apps/v1/StatefulSet; "v1" -> kubernetes-models/v1/Service
    let Model;
    try {
      Model = require(`kubernetes-models/${doc.apiVersion}/${doc.kind}`)[doc.kind];
    } catch (e) {
      Model = undefined;
    }
    if (typeof Model !== "function") {
      console.error(`${where}: ${doc.apiVersion} ${doc.kind} is not a Kubernetes kind`);
      errors++;
      continue;
    }
    try {
      new Model(doc).validate();
      console.log(`${where}: valid (${doc.apiVersion})`);
    } catch (e) {
      console.error(`${where}: INVALID: ${e.message}`);
      errors++;
    }
  }
}
if (errors > 0) {
  console.error(`${errors} error(s)`);
  process.exit(1);
}
