// Test PKI made with the openssl CLI: a CA, the apiserver's serving cert, an admin client cert
// (O=system:masters, so RBAC lets it do anything) and the service-account signing key pair.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ClusterPki {
  caCert: string; caKey: string;
  servingCert: string; servingKey: string;
  adminCert: string; adminKey: string;
  saKey: string; saPub: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

// EC keys generate instantly; RSA would add a noticeable pause per key.
const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function issue(dir: string, name: string, subject: string, extensions: string[]): void {
  openssl(['req', '-new', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  writeFileSync(join(dir, `${name}.ext`), extensions.join('\n') + '\n');
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '30', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
}

export function createPki(dir: string): ClusterPki {
  openssl(['req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=els-test-ca'], dir);
  issue(dir, 'apiserver', '/CN=kube-apiserver', [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1',
  ]);
  issue(dir, 'admin', '/O=system:masters/CN=els-test-admin', [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
  ]);
  // Service-account tokens are signed with this key (RS256 is what every verifier supports).
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  const path = (file: string) => join(dir, file);
  return {
    caCert: path('ca.crt'), caKey: path('ca.key'),
    servingCert: path('apiserver.crt'), servingKey: path('apiserver.key'),
    adminCert: path('admin.crt'), adminKey: path('admin.key'),
    saKey: path('sa.key'), saPub: path('sa.pub'),
  };
}

export const readPem = (path: string): string => readFileSync(path, 'utf8');
