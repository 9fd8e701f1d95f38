package sshgrant

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"encoding/pem"

	"golang.org/x/crypto/ssh"

	"github.com/moatsh/moat/internal/grant"
)

// maxKeyFile bounds what ReadKeyFile reads: a 16384-bit RSA key, the
// largest ssh-keygen makes, is under 13 KiB.
const maxKeyFile = 64 << 10

// KeyFileError reports a key file that cannot be granted, and how to fix it.
type KeyFileError struct {
	Path   string
	Why    string
	Remedy string
	Err    error
}

func (e *KeyFileError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("ssh key %s: %s: %v", e.Path, e.Why, e.Err)
	}
	return fmt.Sprintf("ssh key %s: %s", e.Path, e.Why)
}

func (e *KeyFileError) Unwrap() error { return e.Err }

// Hint says how to fix the file or what to give instead.
func (e *KeyFileError) Hint() string { return e.Remedy }

// ReadKeyFile reads a private key file: a regular file that is not a
// symbolic link (the file checked is the file read), at most 64 KiB, that
// only its owner can access, as ssh itself requires of a key.
func ReadKeyFile(path string) ([]byte, error) {
	bad := func(why, remedy string, err error) ([]byte, error) {
		return nil, &KeyFileError{Path: path, Why: why, Remedy: remedy, Err: err}
	}
	info, err := os.Lstat(path)
	if err != nil {
		return bad("reading it", "", err)
	}
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		target, _ := filepath.EvalSymlinks(path)
		return bad("is a symbolic link", fmt.Sprintf("Give the key file itself: --key %s", target), nil)
	case !info.Mode().IsRegular():
		return bad("is not a regular file", "Give the private key file ssh-keygen wrote.", nil)
	case info.Size() > maxKeyFile:
		return bad(fmt.Sprintf("is larger than %d KiB, too large for a key", maxKeyFile>>10), "Give the private key file ssh-keygen wrote.", nil)
	}
	f, err := os.Open(path)
	if err != nil {
		return bad("reading it", "", err)
	}
	defer f.Close()
	if opened, err := f.Stat(); err != nil || !os.SameFile(info, opened) {
		return bad("changed while it was read", "Try again.", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return bad("reading it", "", err)
	}
	if len(data) > maxKeyFile {
		return bad(fmt.Sprintf("is larger than %d KiB, too large for a key", maxKeyFile>>10), "Give the private key file ssh-keygen wrote.", nil)
	}
	// Checked once the file is read, so that a public key given by
	// mistake (mode 0644, as ssh-keygen writes it) is called that.
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		if isPublicKey(data) {
			return nil, notAPrivateKey(path, data, nil)
		}
		clear(data)
		return bad(fmt.Sprintf("other users can access it (mode %04o), and ssh would refuse it", info.Mode().Perm()),
			fmt.Sprintf("Run 'chmod 600 %s'; if others could read the key, make a new one instead.", path), nil)
	}
	return data, nil
}

func isPublicKey(data []byte) bool {
	_, _, _, _, err := ssh.ParseAuthorizedKey(data)
	return err == nil
}

// ParseKey parses the private key read from path and returns its public
// key and the secret to store: the key decrypted, in OpenSSH's format. For
// an encrypted key it calls passphrase once; a nil passphrase refuses
// encrypted keys (see EncryptedKeyRemedy).
func ParseKey(path string, data []byte, passphrase func() ([]byte, error)) (ssh.PublicKey, grant.Secret, error) {
	raw, err := ssh.ParseRawPrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		raw, err = decrypt(path, data, passphrase)
		if err != nil {
			return nil, grant.Secret{}, err
		}
	}
	if err != nil {
		return nil, grant.Secret{}, notAPrivateKey(path, data, err)
	}
	signer, err := ssh.NewSignerFromKey(raw)
	if err != nil {
		return nil, grant.Secret{}, &KeyFileError{Path: path, Why: "its key type cannot be used", Err: err}
	}
	block, err := ssh.MarshalPrivateKey(raw, "")
	if err != nil {
		return nil, grant.Secret{}, &KeyFileError{Path: path, Why: "its key type cannot be stored", Err: err}
	}
	encoded := pem.EncodeToMemory(block)
	secret := grant.NewSecret(encoded)
	clear(encoded)
	return signer.PublicKey(), secret, nil
}

// EncryptedKeyRemedy is what to do with an encrypted key where no
// passphrase can be asked for.
const EncryptedKeyRemedy = "Run 'moat grant ssh' on a terminal to type the passphrase once, or load the key into " +
	"your ssh-agent ('ssh-add FILE') and grant it with --agent-key FINGERPRINT ('ssh-add -l' lists them)."

func decrypt(path string, data []byte, passphrase func() ([]byte, error)) (any, error) {
	if passphrase == nil {
		return nil, &KeyFileError{Path: path, Why: "is encrypted, and there is no terminal to ask for its passphrase",
			Remedy: EncryptedKeyRemedy}
	}
	pass, err := passphrase()
	if err != nil {
		return nil, &KeyFileError{Path: path, Why: "reading its passphrase", Err: err}
	}
	defer clear(pass)
	raw, err := ssh.ParseRawPrivateKeyWithPassphrase(data, pass)
	if err != nil {
		return nil, &KeyFileError{Path: path, Why: "decrypting it", Err: err,
			Remedy: fmt.Sprintf("Check the passphrase: 'ssh-keygen -y -f %s' asks for it and prints the public key.", path)}
	}
	return raw, nil
}

// notAPrivateKey explains a file that did not parse as a private key,
// telling a public key given by mistake apart.
func notAPrivateKey(path string, data []byte, err error) error {
	if isPublicKey(data) {
		return &KeyFileError{Path: path, Why: "is a public key; moat needs the private key to sign with",
			Remedy: "Give the private key file: usually the same name without .pub. " +
				"To keep the private key in your ssh-agent instead, use --agent-key FINGERPRINT."}
	}
	return &KeyFileError{Path: path, Why: "is not a private key moat can read", Err: err,
		Remedy: "Give a private key file as ssh-keygen writes it ('ssh-keygen -t ed25519 -f FILE' makes one)."}
}
