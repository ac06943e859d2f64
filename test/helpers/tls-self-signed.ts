/**
 * A self-signed certificate for `images.example.test` (EC P-256, valid until 2126), generated with
 * `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500
 * -subj /CN=images.example.test -addext subjectAltName=DNS:images.example.test`.
 * It signs nothing real; tests use it to show that certificates are verified and SNI is sent.
 */
export const SELF_SIGNED_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYIfJTicGhATeZdei
CZWBpn59L9vWzhq5Nbg0fCJf3AahRANCAASsoII2D7FhNNRyK5dO+2wGIYGJnccI
14x06L6MFscRCX4BxeDGr33RApHCBEkrKdUZ/Sc8+dZGhvus/kinobU4
-----END PRIVATE KEY-----
`;

export const SELF_SIGNED_CERT = `-----BEGIN CERTIFICATE-----
MIIBsjCCAVmgAwIBAgIUHm0X4J19qPTBm4TR50xgU43LZXAwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTaW1hZ2VzLmV4YW1wbGUudGVzdDAgFw0yNjExMjExNzQ3Mzha
GA8yMTI2MTAyODE3NDczOFowHjEcMBoGA1UEAwwTaW1hZ2VzLmV4YW1wbGUudGVz
dDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKyggjYPsWE01HIrl077bAYhgYmd
xwjXjHTovowWxxEJfgHF4MavfdECkcIESSsp1Rn9Jzz51kaG+6z+SKehtTijczBx
MB0GA1UdDgQWBBSD5SgE7/MGrmAjoTfr2nW5tGc6DTAfBgNVHSMEGDAWgBSD5SgE
7/MGrmAjoTfr2nW5tGc6DTAPBgNVHRMBAf8EBTADAQH/MB4GA1UdEQQXMBWCE2lt
YWdlcy5leGFtcGxlLnRlc3QwCgYIKoZIzj0EAwIDRwAwRAIgW1NCOJa4aomY5sbh
nLEbQtfImFBAF/K8YfSq/s1XoeMCIBdJ/j6HobOUng5TNBySabNAP8MWmn7y8KyH
qoFuQHo7
-----END CERTIFICATE-----
`;
