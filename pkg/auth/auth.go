// Package auth identifies callers from the original Darwin `msd-user: {"email": "..."}` header or from
// `Authorization: Bearer <token>` (resolved by a TokenResolver).
//
// Middleware never rejects a request: it stores the identity (or the reason none could be established) in the
// request context. Handlers that need a user call Require, which returns an apierr error naming the header, so
// a missing or malformed header becomes a 4xx in the service's own envelope — never a 500.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
)

// Header names.
const (
	HeaderUser          = "msd-user"
	HeaderAuthorization = "Authorization"
)

// Identity sources.
const (
	SourceMSDUser = "msd-user"
	SourceBearer  = "bearer"
)

// Identity is an authenticated (bearer) or asserted (msd-user) caller.
type Identity struct {
	Email  string
	Source string // "msd-user" | "bearer"
}

// TokenResolver maps a bearer token to an identity.
type TokenResolver interface {
	Resolve(ctx context.Context, token string) (Identity, error)
}

// ErrUnknownToken is returned by StaticTokens for tokens it does not know.
var ErrUnknownToken = errors.New("unknown bearer token")

// StaticTokens is a fixed token → email table.
type StaticTokens map[string]string

// Resolve implements TokenResolver.
func (s StaticTokens) Resolve(_ context.Context, token string) (Identity, error) {
	email, ok := s[token]
	if !ok || token == "" {
		return Identity{}, ErrUnknownToken
	}
	return Identity{Email: email, Source: SourceBearer}, nil
}

type ctxKey struct{}

type state struct {
	id  Identity
	ok  bool
	err *apierr.Error
}

// WithIdentity returns ctx carrying id (for tests and for gRPC edges that receive the user in a field).
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, state{id: id, ok: true})
}

// FromContext returns the caller's identity, if one was established.
func FromContext(ctx context.Context) (Identity, bool) {
	st, _ := ctx.Value(ctxKey{}).(state)
	return st.id, st.ok
}

// Require returns the caller's identity or an apierr error: InvalidArgument "msd-user header is required"
// when no identity header was sent, InvalidArgument naming msd-user when it was malformed, and Unauthenticated
// for an unknown bearer token.
func Require(ctx context.Context) (Identity, error) {
	st, _ := ctx.Value(ctxKey{}).(state)
	if st.ok {
		return st.id, nil
	}
	if st.err != nil {
		return Identity{}, st.err
	}
	return Identity{}, &apierr.Error{Kind: apierr.InvalidArgument, Message: "msd-user header is required", Field: HeaderUser}
}

// ParseUserHeader parses an msd-user header value: a JSON object with a non-empty string "email" (other keys
// are ignored).
func ParseUserHeader(v string) (Identity, error) {
	var body map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &body); err != nil {
		return Identity{}, &apierr.Error{Kind: apierr.InvalidArgument, Field: HeaderUser,
			Message: `msd-user header must be a JSON object like {"email": "user@example.com"}`, Cause: err}
	}
	var email string
	if raw, ok := body["email"]; ok {
		if err := json.Unmarshal(raw, &email); err != nil {
			return Identity{}, &apierr.Error{Kind: apierr.InvalidArgument, Field: HeaderUser,
				Message: "msd-user header email must be a string", Cause: err}
		}
	}
	email = strings.TrimSpace(email)
	if email == "" {
		return Identity{}, &apierr.Error{Kind: apierr.InvalidArgument, Field: HeaderUser,
			Message: "msd-user header must contain a non-empty email"}
	}
	return Identity{Email: email, Source: SourceMSDUser}, nil
}

// Middleware establishes the caller's identity. A bearer token, when present, wins over msd-user. res may be
// nil (bearer tokens are then rejected as unknown).
func Middleware(res TokenResolver) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(identify(r, res)))
		})
	}
}

func identify(r *http.Request, res TokenResolver) context.Context {
	ctx := r.Context()
	if h := r.Header.Get(HeaderAuthorization); h != "" {
		scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
		token = strings.TrimSpace(token)
		if strings.EqualFold(scheme, "Bearer") && token != "" {
			if res != nil {
				if id, err := res.Resolve(ctx, token); err == nil && id.Email != "" {
					if id.Source == "" {
						id.Source = SourceBearer
					}
					return context.WithValue(ctx, ctxKey{}, state{id: id, ok: true})
				}
			}
			return context.WithValue(ctx, ctxKey{}, state{err: &apierr.Error{Kind: apierr.Unauthenticated,
				Message: "invalid bearer token", Field: HeaderAuthorization}})
		}
	}
	if v := r.Header.Get(HeaderUser); v != "" {
		id, err := ParseUserHeader(v)
		if err != nil {
			return context.WithValue(ctx, ctxKey{}, state{err: apierr.From(err)})
		}
		return context.WithValue(ctx, ctxKey{}, state{id: id, ok: true})
	}
	return ctx
}
