// Verifies a procurize evidence bundle's Sigstore bundle with sigstore-js, offline, with a
// public key and no transparency log (what `cosign verify-blob-attestation --key ...
// --insecure-ignore-tlog` does), and checks that BLOB's SHA-256 is one of the statement's
// subjects.
//
//   node sigstore-verify.cjs attestation.sigstore.json signer.pub BLOB PREDICATE_TYPE
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const { bundleFromJSON } = require("@sigstore/bundle");
const { Verifier, toSignedEntity, toTrustMaterial } = require("@sigstore/verify");

const [bundlePath, keyPath, blobPath, predicateType] = process.argv.slice(2);
const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, "utf8")));
const key = crypto.createPublicKey(fs.readFileSync(keyPath, "utf8"));
const hint = bundle.verificationMaterial.content.publicKey.hint;
const trust = toTrustMaterial(
  {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  },
  (keyHint) => {
    if (keyHint !== hint) throw new Error(`unknown key hint ${keyHint}`);
    return { publicKey: key, validFor: () => true };
  },
);
const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0 });
verifier.verify(toSignedEntity(bundle));

const envelope = bundle.content.dsseEnvelope;
const statement = JSON.parse(Buffer.from(envelope.payload).toString("utf8"));
if (statement.predicateType !== predicateType) {
  throw new Error(`predicate type ${statement.predicateType}, expected ${predicateType}`);
}
const digest = crypto.createHash("sha256").update(fs.readFileSync(blobPath)).digest("hex");
if (!statement.subject.some((s) => s.digest.sha256 === digest)) {
  throw new Error(`${blobPath} (sha256 ${digest}) is not a subject of the statement`);
}
console.log(`verified: key ${hint}, ${statement.subject.length} subjects`);
