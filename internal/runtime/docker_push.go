package runtime

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
)

// PushImage puts the local image id into the registry repository repo
// ("HOST[:PORT]/PATH") and returns it by digest, "repo@sha256:...", the
// reference a cluster pulls. The tag is the image's own content hash when
// moat tagged it (moat/run:HASH), else its ID's start. It is idempotent
// and cheap when the registry already has the image: if the tag there
// names the manifest the engine recorded pushing (or pulling) for this
// image, nothing is uploaded.
func (d *Docker) PushImage(ctx context.Context, id, repo string) (string, error) {
	img, err := d.cli.ImageInspect(ctx, id)
	if err != nil {
		return "", fmt.Errorf("pushing image %s: %w", id, mapErr(err))
	}
	ref := repo + ":" + pushTag(img.ID, img.RepoTags)
	host, _, _ := strings.Cut(repo, "/")
	auth, err := registryAuth(host)
	if err != nil {
		return "", err
	}
	if digest := d.pushedDigest(ctx, ref, auth, img.RepoDigests, repo); digest != "" {
		return repo + "@" + digest, nil
	}
	if err := d.cli.ImageTag(ctx, img.ID, ref); err != nil {
		return "", fmt.Errorf("tagging image %s as %s: %w", id, ref, mapErr(err))
	}
	for attempt := 1; ; attempt++ {
		digest, err := d.pushOnce(ctx, ref, auth)
		if err == nil {
			return repo + "@" + digest, nil
		}
		if attempt == pushAttempts || !registryServerError(err) {
			return "", pushError(ref, host, err)
		}
		select {
		case <-ctx.Done():
			return "", pushError(ref, host, err)
		case <-time.After(time.Duration(attempt) * pushRetryWait):
		}
	}
}

// pushAttempts is how often a push the registry fails with a server error
// (5xx) is tried. Such errors pass: a registry's filesystem store answers
// 500 to a blob another push of the same layer is committing right then
// (several runs that start together push the same image), and the next
// try finds the blob there and uploads nothing.
const pushAttempts = 3

// pushRetryWait is the wait before the second try; it grows by as much
// before each next one.
var pushRetryWait = time.Second

// pushOnce asks the engine to push ref and returns the manifest's digest.
func (d *Docker) pushOnce(ctx context.Context, ref, auth string) (string, error) {
	rc, err := d.cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return "", mapErr(err)
	}
	defer rc.Close()
	return decodePushStream(rc)
}

// registryServerError reports whether err is the registry's 5xx as the
// engine words it in a push stream ("received unexpected HTTP status: 500
// Internal Server Error").
func registryServerError(err error) bool {
	_, status, ok := strings.Cut(err.Error(), "unexpected HTTP status: ")
	return ok && len(status) >= 3 && status[0] == '5' && '0' <= status[1] && status[1] <= '9' && '0' <= status[2] && status[2] <= '9'
}

// pushedDigest returns the digest of the manifest the registry's tag ref
// names, if the engine recorded that manifest for this image in repo
// (repoDigests, from an earlier push or pull); "" otherwise, or when the
// registry cannot say.
func (d *Docker) pushedDigest(ctx context.Context, ref, auth string, repoDigests []string, repo string) string {
	var known []string
	for _, rd := range repoDigests {
		if r, digest, ok := strings.Cut(rd, "@"); ok && r == repo {
			known = append(known, digest)
		}
	}
	if len(known) == 0 {
		return ""
	}
	di, err := d.cli.DistributionInspect(ctx, ref, auth)
	if err != nil {
		return ""
	}
	if digest := di.Descriptor.Digest.String(); slices.Contains(known, digest) {
		return digest
	}
	return ""
}

// contentTag is a tag moat gives the images it builds: moat/run:HASH.
var contentTag = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^moat/[a-z0-9-]+:([0-9a-f]{20,64})$`) })

// pushTag is the tag an image goes to the registry under: its content
// hash, the same on every machine that builds it, else the start of its
// ID.
func pushTag(id string, tags []string) string {
	sorted := slices.Sorted(slices.Values(tags))
	for _, t := range sorted {
		if m := contentTag().FindStringSubmatch(t); m != nil {
			return m[1]
		}
	}
	hex := strings.TrimPrefix(id, "sha256:")
	return hex[:min(len(hex), 20)]
}

// decodePushStream reads the engine's push progress to its end and
// returns the pushed manifest's digest, or the error inside the stream.
func decodePushStream(r io.Reader) (string, error) {
	dec := json.NewDecoder(r)
	var digest string
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
			Aux struct {
				Digest string `json:"Digest"`
			} `json:"aux"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("reading the push stream: %w", err)
		}
		if msg.Error != "" || msg.ErrorDetail.Message != "" {
			return "", errors.New(cmp.Or(msg.Error, msg.ErrorDetail.Message))
		}
		if msg.Aux.Digest != "" {
			digest = msg.Aux.Digest
		}
	}
	if digest == "" {
		return "", errors.New("the engine did not report the pushed image's digest")
	}
	return digest, nil
}

// PushError reports that an image could not be pushed to the registry
// that runs on a cluster pull from.
type PushError struct {
	Ref, Registry string
	Err           error
}

func (e *PushError) Error() string { return fmt.Sprintf("pushing %s: %v", e.Ref, e.Err) }
func (e *PushError) Unwrap() error { return e.Err }

// Hint says how to let the engine push there, or, when the registry
// itself failed on every try, to look at the registry.
func (e *PushError) Hint() string {
	if registryServerError(e.Err) {
		return fmt.Sprintf("The registry %s failed with a server error on each of %d tries; its own log says why.\nRun again once it is healthy.", e.Registry, pushAttempts)
	}
	return fmt.Sprintf("Log in with 'docker login %s' if the registry needs it (and, for a plain-http registry other than\n"+
		"127.0.0.1, add it to the engine's insecure-registries), or set registry: in ~/.moat/config.yaml to one the\n"+
		"engine can push to and the cluster can pull from.", e.Registry)
}

func pushError(ref, host string, err error) error {
	return &PushError{Ref: ref, Registry: host, Err: err}
}

// dockerConfig is what PushImage reads of the Docker CLI's config.json.
type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
	CredsStore  string            `json:"credsStore"`
	CredHelpers map[string]string `json:"credHelpers"`
}

// registryAuth returns the engine's X-Registry-Auth for host, from the
// Docker CLI's config ($DOCKER_CONFIG/config.json, else
// ~/.docker/config.json): a credential helper's answer or an inline
// login; "" (anonymous) when it has none.
func registryAuth(host string) (string, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", nil
		}
		dir = filepath.Join(home, ".docker")
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the registry login: %w", err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("reading the registry login in %s: %w", filepath.Join(dir, "config.json"), err)
	}
	key := host
	if host == "docker.io" || host == "index.docker.io" {
		key = "https://index.docker.io/v1/"
	}
	ac := registry.AuthConfig{ServerAddress: key}
	if helper := cmp.Or(cfg.CredHelpers[host], cfg.CredsStore); helper != "" {
		if err := fromHelper(helper, key, &ac); err != nil {
			return "", err
		}
	} else if a, ok := cfg.Auths[key]; ok {
		ac.IdentityToken = a.IdentityToken
		if raw, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
			ac.Username, ac.Password, _ = strings.Cut(string(raw), ":")
		}
	}
	if ac.Username == "" && ac.IdentityToken == "" {
		return "", nil
	}
	return registry.EncodeAuthConfig(ac)
}

// fromHelper asks the Docker credential helper docker-credential-NAME for
// the login of serverURL; none stored is no login.
func fromHelper(name, serverURL string, ac *registry.AuthConfig) error {
	cmd := exec.Command("docker-credential-"+name, "get")
	cmd.Stdin = strings.NewReader(serverURL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(string(out)+stderr.String(), "credentials not found") {
			return nil
		}
		return fmt.Errorf("asking docker-credential-%s for the login of %s: %w", name, serverURL, err)
	}
	var c struct{ Username, Secret string }
	if err := json.Unmarshal(out, &c); err != nil {
		return fmt.Errorf("reading docker-credential-%s's answer for %s: %w", name, serverURL, err)
	}
	if c.Username == "<token>" {
		ac.IdentityToken = c.Secret
	} else {
		ac.Username, ac.Password = c.Username, c.Secret
	}
	return nil
}
