/*
 * tls.c: what the agent checks of its own TLS files before it connects.
 *
 * gRPC reads the agent's certificate and key only during a handshake, and
 * a key that does not match the certificate then fails every connection
 * with an obscure handshake error.  OpenSSL (the library gRPC itself uses
 * on Debian) says so at start instead: a configuration error, status 2.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "agent.h"

/*
 * 0 if CERT (PEM) and KEY (PEM) are a certificate and its private key;
 * else -1 with *cause naming the files and the problem.
 */
int
tls_check_pair(const char *cert, const char *key, const char *cert_file,
    const char *key_file, char **cause)
{
	EVP_PKEY *pkey = NULL;
	X509 *x509 = NULL;
	BIO *b;
	int rc = -1;

	if ((b = BIO_new_mem_buf(cert, -1)) != NULL) {
		x509 = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if (x509 == NULL) {
		xasprintf(cause, "%s holds no PEM certificate", cert_file);
		goto out;
	}
	if ((b = BIO_new_mem_buf(key, -1)) != NULL) {
		pkey = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if (pkey == NULL) {
		xasprintf(cause, "%s holds no PEM private key (or one with a "
		    "passphrase)", key_file);
		goto out;
	}
	if (X509_check_private_key(x509, pkey) != 1) {
		xasprintf(cause, "the key in %s does not match the certificate "
		    "in %s", key_file, cert_file);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	X509_free(x509);
	return rc;
}
