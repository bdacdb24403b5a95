/**
 * Keys whose private halves are published (in standards, drafts and test suites), so anyone can sign
 * or MAC with them. Provisioning one for an attester lets anyone forge that attester's Evidence, so
 * the reference-value loader refuses them unless the operator turns on test mode
 * (`allowPublishedKeys`, `ASSAY_ALLOW_PUBLISHED_KEYS`); every EAR then says so in its verifier id.
 *
 * Public keys are listed by the SHA-256 of their SubjectPublicKeyInfo DER (hex; `PublicKey.spkiSha256`),
 * symmetric keys by the SHA-256 of the raw key bytes. Each entry names where the key was published.
 * The list covers every key the published conformance vectors (`test/vectors/`) carry; add a key
 * here when a new vector brings one. A real vendor root that only appears in a vector (the AMD
 * certificate of `veraison-services-corim-psa-bad-ta-cert`) is not listed: its private key is not public.
 */

/** SPKI SHA-256 (hex) → where the key pair was published. */
export const PUBLISHED_PUBLIC_KEYS: ReadonlyMap<string, string> = new Map([
  // RFC 9783 Appendix A.1: the example PSA Initial Attestation Key (tfm-es-iak.json, private scalar `d` published).
  ['45d852b8ab34e60e66d904c289f945edadf3de2446e8eaf61df17333ac5fd8e2', 'RFC 9783 Appendix A.1 example IAK'],
  // COSE WG Examples / RFC 9052 Appendix C: P-256 key "11" (also go-cose tests, the EAR drafts' and Veraison's EAR examples).
  ['66e2b23c32c650217f99e11fb60b51ea72c6667c6dfd1238364435e62d659d5b', 'COSE WG examples / RFC 9052 key "11" (P-256)'],
  // COSE WG Examples: P-384 key "P384" (also go-cose tests).
  ['89e80bf2675959c41df00cbc9df8d85eb783edc1d4f7626a7a1fc09d1c845cea', 'COSE WG examples key "P384"'],
  // COSE WG Examples: P-521 key "bilbo.baggins@hobbiton.example" (also go-cose tests).
  ['c6479a15a50ac4cd9b6414e27c69bf37345dc1046dc648875c4898fbd35cc74b', 'COSE WG examples key "bilbo.baggins@hobbiton.example" (P-521)'],
  // COSE WG Examples: Ed25519 key "11".
  ['06e3fd8fda29bb60ab59557de61edb0aecdb231134be30e75b455f8e1b792fa9', 'COSE WG examples Ed25519 key "11"'],
  // COSE WG Examples: Ed448 key "ed448".
  ['2391990aa611e5e333a6a37af8921d263faab93b55ea293bc124a7bbab5ebc61', 'COSE WG examples Ed448 key'],
  // go-cose sign1 verification tests: RSA key "meriadoc.brandybuck@rivendell.example" (RFC 8230 examples).
  ['ea72c8c97ebc939cb259a01b5990a84eb876456986a9cb47b0a3a3079cd8ddf8', 'go-cose / RFC 8230 RSA key "meriadoc.brandybuck"'],
  // RFC 8392 Appendix A.2.3: "AsymmetricECDSA256".
  ['180ce3e56d727fe1dd5b567220d1e811e53262f7ea4981dbdeac1bdc87e3bf67', 'RFC 8392 Appendix A.2.3 key "AsymmetricECDSA256"'],
  // draft-ietf-rats-ear example (OPA): PARSEC TPM attestation key `akpub`.
  ['e1afca104d4b89a2d6648f78f1ae0f5f9322c8957323a0440fc5338ac54b168c', 'draft-ietf-rats-ear OPA example PARSEC TPM akpub'],
  // Veraison psatoken test key (TF-M PSA_IOT_PROFILE_1 and psa/2.0.0 test tokens).
  ['7b1a17147ca907e16cad79901fef13991ec6206e3d148b657068ad6c4cba4626', 'Veraison psatoken TF-M test IAK'],
  // Veraison corim PSA profile examples: the endorsed IAK of psa-profile-valid / two-keys.
  ['94c84ccbc41e1e23dcb03447b733ed114841586c5d45669beab2f20d046236d3', 'Veraison corim PSA profile example IAK'],
  // Veraison corim signed-CoRIM test key "1" (also in the services PSA CoRIM examples).
  ['51b944cdfa544d4c3273aa6bf350625a7dd53bbb6a71723274f538b19a207760', 'Veraison corim signing test key "1"'],
  // Veraison services PSA CoRIM examples: the endorsed IAK (valid, bad-instance, bad-ta-no-instance).
  ['3626bd7dd789ead09585928721b41a416bed6112e7cea5e7665c939a75955811', 'Veraison services PSA CoRIM example IAK'],
  // Veraison services PSA CoRIM example bad-class: its endorsed IAK.
  ['b64567ef0aa98abcd64f2ea0aa695e6a695913579134bd8b7b27376d0a73cf75', 'Veraison services PSA CoRIM bad-class example IAK'],
  // Veraison EAR (Trustee) example: the embedded header JWK and the TEE public key in its runtime data.
  ['8cb40e87160b355a4a381f5fdb2e3ae03d399450483a20ef8a96ea3519e7b6c6', 'Veraison/Trustee EAR example embedded JWK'],
  ['e840eb5d9f84d0b1406b884e5272dbf65b5455cd59e08ffdac9d46e8bc186ec2', 'Veraison/Trustee EAR example tee-pubkey (RSA)'],
])

/** SHA-256 (hex) of the raw key bytes → where the symmetric key was published. */
export const PUBLISHED_SECRET_KEYS: ReadonlyMap<string, string> = new Map([
  // RFC 9783 Appendix A.2: the example PSA COSE_Mac0 key.
  ['7b0e4e29c2c0edf2f5a23739d58561dfe320e8a641d7d1d4261c37f22caa68de', 'RFC 9783 Appendix A.2 example HMAC key'],
  // RFC 8392 Appendix A.2.2: "Symmetric256".
  ['7ad14021fdc8a526f91421380a6a0a3d7761d317ce222054a65cbbd6a0a88083', 'RFC 8392 Appendix A.2.2 key "Symmetric256"'],
  // RFC 9711 Appendix A.2.3: the HS256 key of the JSON detached EAT bundle example.
  ['b7fb217694ae2d305e766608d250f797daa984e4ac4b5fa638a729be352f2fcd', 'RFC 9711 Appendix A.2.3 HS256 example key'],
])
