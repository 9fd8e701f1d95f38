// Command npmreg fills and serves the tests' npm registry cache (package
// npmreg) for the test setup scripts:
//
//	npmreg fill -cache DIR [-upstream URL] PKG@VER[=SHA256]...
//	npmreg serve -cache DIR -listen ADDR
//
// fill prints each package's pin, PKG@VER=SHA256, one a line; serve prints
// the registry's URL, one line, then serves until killed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/moatsh/moat/internal/testutil/npmreg"
)

const usage = `usage: npmreg fill -cache DIR [-upstream URL] PKG@VER[=SHA256]...
       npmreg serve -cache DIR -listen ADDR`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "npmreg:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("npmreg "+args[0], flag.ContinueOnError)
	cache := fs.String("cache", "", "the cache directory")
	switch args[0] {
	case "fill":
		upstream := fs.String("upstream", npmreg.DefaultUpstream, "the registry to fetch from")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return fill(ctx, *cache, *upstream, fs.Args())
	case "serve":
		listen := fs.String("listen", "127.0.0.1:0", "the address to serve on")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return serve(*cache, *listen)
	}
	return errors.New(usage)
}

func fill(ctx context.Context, cache, upstream string, specs []string) error {
	if cache == "" || len(specs) == 0 {
		return errors.New(usage)
	}
	var wants []npmreg.Want
	for _, s := range specs {
		w, err := parseSpec(s)
		if err != nil {
			return err
		}
		wants = append(wants, w)
	}
	if err := npmreg.Fill(ctx, cache, upstream, wants); err != nil {
		return err
	}
	for _, w := range wants {
		sum, err := npmreg.Sum(cache, w.Package, w.Version)
		if err != nil {
			return err
		}
		fmt.Printf("%s=%s\n", w, sum)
	}
	return nil
}

// parseSpec parses PKG@VER[=SHA256]; a scoped PKG starts with its own "@".
func parseSpec(s string) (npmreg.Want, error) {
	spec, sum, _ := strings.Cut(s, "=")
	at := strings.LastIndex(spec, "@")
	if at <= 0 {
		return npmreg.Want{}, fmt.Errorf("invalid package %q: want PKG@VERSION[=SHA256]", s)
	}
	return npmreg.Want{Package: spec[:at], Version: spec[at+1:], SHA256: sum}, nil
}

func serve(cache, listen string) error {
	if cache == "" {
		return errors.New(usage)
	}
	if _, err := os.Stat(cache); err != nil {
		return err
	}
	s, err := npmreg.Serve(cache, listen)
	if err != nil {
		return err
	}
	fmt.Println(s.URL)
	return s.Wait()
}
