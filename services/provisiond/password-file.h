/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The provisioning password, remembered only as a salted PBKDF2 verifier (common/password.h)
 * in "<StateFile>.password": mode 0600, the verifier and a newline, written atomically.
 *
 * StartProvisioning removes it first and writes it as its very last step, so that the file
 * exists exactly when a StartProvisioning has completed: FinishProvisioning needs it, and
 * Deprovision removes it. */

#define PASSWORD_FILE_SUFFIX ".password"

/* "<state_file>.password"; NULL on OOM. */
char *password_file_path(const char *state_file);

/* Hashes password and stores the verifier (making the directory, 0755, if need be). */
int password_file_save(const char *path, const char *password);

/* 1: password matches, 0: it does not (compared in constant time), -ENOENT: no file,
 * -EBADMSG: the file holds no valid verifier, other negative errno: cannot be read. */
int password_file_check(const char *path, const char *password);

/* 1 if the file exists, 0 if not, negative errno if that cannot be told. */
int password_file_exists(const char *path);

/* Removes the file durably; a missing file is success. */
int password_file_remove(const char *path);
