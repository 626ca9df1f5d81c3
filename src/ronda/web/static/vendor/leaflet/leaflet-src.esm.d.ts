// The part of Leaflet 1.9's API the web client uses, for tsc (Leaflet ships no types). Written for
// Ronda, not vendored: scripts/vendor-web.sh leaves it alone.
export type LatLngTuple = [number, number];
export interface LatLng { lat: number; lng: number }
export type LatLngExpression = LatLng | LatLngTuple;
export interface Point { x: number; y: number }
export interface LeafletEvent { type: string; target: any; latlng?: LatLng }
export type Handler = (e: LeafletEvent) => void;

export class Evented {
  on(type: string, fn: Handler): this;
  off(type: string, fn?: Handler): this;
}
export class Layer extends Evented {
  addTo(map: Map | LayerGroup): this;
  remove(): this;
  getElement(): HTMLElement | SVGElement | undefined;
}
export class LayerGroup extends Layer {
  clearLayers(): this;
  addLayer(layer: Layer): this;
}
export interface MapOptions {
  zoomControl?: boolean; attributionControl?: boolean; keyboard?: boolean; maxZoom?: number; minZoom?: number;
  zoomSnap?: number; worldCopyJump?: boolean;
}
export class Map extends Evented {
  setView(center: LatLngExpression, zoom?: number, options?: object): this;
  fitBounds(bounds: LatLngTuple[] | LatLngBounds, options?: { padding?: [number, number]; maxZoom?: number }): this;
  invalidateSize(animate?: boolean): this;
  getZoom(): number;
  getCenter(): LatLng;
  remove(): this;
  latLngToContainerPoint(latlng: LatLngExpression): Point;
  containerPointToLatLng(point: [number, number] | Point): LatLng;
  attributionControl: Control.Attribution;
}
export class LatLngBounds {
  isValid(): boolean;
}
export namespace Control {
  class Attribution {
    setPrefix(prefix: string | false): this;
    addAttribution(text: string): this;
  }
}
export interface TileLayerOptions {
  maxZoom?: number; attribution?: string; className?: string; crossOrigin?: boolean | string; referrerPolicy?: string | false;
}
export class TileLayer extends Layer {}
export interface DivIconOptions { html?: string | HTMLElement | false; className?: string; iconSize?: [number, number] | null; iconAnchor?: [number, number] }
export class DivIcon {}
export interface MarkerOptions { icon?: DivIcon; draggable?: boolean; keyboard?: boolean; autoPanOnFocus?: boolean; zIndexOffset?: number }
export class Marker extends Layer {
  setLatLng(latlng: LatLngExpression): this;
  getLatLng(): LatLng;
}
export interface PathOptions {
  className?: string; color?: string; weight?: number; opacity?: number; fillColor?: string; fillOpacity?: number;
  interactive?: boolean; smoothFactor?: number; noClip?: boolean;
}
export class Polygon extends Layer {
  setLatLngs(latlngs: LatLngExpression[]): this;
  setStyle(style: PathOptions): this;
}

export function map(element: HTMLElement, options?: MapOptions): Map;
export function tileLayer(urlTemplate: string, options?: TileLayerOptions): TileLayer;
export function divIcon(options: DivIconOptions): DivIcon;
export function marker(latlng: LatLngExpression, options?: MarkerOptions): Marker;
export function polygon(latlngs: LatLngExpression[], options?: PathOptions): Polygon;
export function layerGroup(layers?: Layer[]): LayerGroup;
export function latLngBounds(latlngs: LatLngExpression[]): LatLngBounds;
