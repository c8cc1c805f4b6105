package agentdesk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringdesk/ringdesk"
)

// Client is a desk connection from Go: `ringdesk desk` (a terminal desk for
// demos and operations) and end-to-end tests use it. It speaks the protocol
// of PROTOCOL.md; one goroutine may read while others send.
type Client struct {
	conn *websocket.Conn
	wmu  sync.Mutex
	seq  int
}

// Dial connects to a desk socket, e.g. "ws://localhost:8080/desk/ws", with a
// desk token, sending the Origin the server expects for its own pages.
func Dial(ctx context.Context, socketURL, token string) (*Client, error) {
	u, err := url.Parse(socketURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "%q is not a ws:// or wss:// URL", socketURL)
	}
	q := u.Query()
	q.Set("token", token)
	u.RawQuery = q.Encode()
	origin := strings.Replace(u.Scheme, "ws", "http", 1) + "://" + u.Host
	conn, res, err := websocket.DefaultDialer.DialContext(ctx, u.String(), http.Header{"Origin": {origin}})
	if err != nil {
		if res != nil {
			return nil, fmt.Errorf("desk socket %s: %s: %w", u.Host, res.Status, err)
		}
		return nil, fmt.Errorf("desk socket %s: %w", u.Host, err)
	}
	return &Client{conn: conn}, nil
}

// Next waits for the next message from the server.
func (c *Client) Next(ctx context.Context) (ringdesk.DeskMessage, error) {
	var msg ringdesk.DeskMessage
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetReadDeadline(dl)
	} else {
		c.conn.SetReadDeadline(time.Time{})
	}
	if err := c.conn.ReadJSON(&msg); err != nil {
		return msg, fmt.Errorf("desk read: %w", err)
	}
	return msg, nil
}

// NextRaw waits for the next message from the server and returns it as
// it came, for clients that read only a few fields (the bench's desks).
func (c *Client) NextRaw(ctx context.Context) ([]byte, error) {
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetReadDeadline(dl)
	} else {
		c.conn.SetReadDeadline(time.Time{})
	}
	_, b, err := c.conn.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("desk read: %w", err)
	}
	return b, nil
}

// Send sends a command with a fresh request id and returns the id; the
// server answers with an ack carrying it.
func (c *Client) Send(typ string, payload any) (string, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.seq++
	id := fmt.Sprintf("c%d", c.seq)
	msg := map[string]any{"type": typ, "v": Version, "id": id}
	if payload != nil {
		msg["payload"] = payload
	}
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.conn.WriteJSON(msg); err != nil {
		return "", fmt.Errorf("desk send %s: %w", typ, err)
	}
	return id, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	c.wmu.Lock()
	c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	return c.conn.Close()
}

// Decode unmarshals a message's payload.
func Decode(msg ringdesk.DeskMessage, v any) error {
	if err := json.Unmarshal(msg.Payload, v); err != nil {
		return ringdesk.Errorf(ringdesk.EINVALID, "%s payload: %v", msg.Type, err)
	}
	return nil
}
